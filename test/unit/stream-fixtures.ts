import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { appendToItem, eventToItem } from '#adapters/dynamo-ledger-store.ts';
import { LocalSigner } from '#adapters/local-signer.ts';
import { createIngest } from '#core/ingest.ts';
import type { AppendRecord, StoredEvent } from '#core/ports.ts';
import type { AuditEventInput } from '#core/schema.ts';
import type { PublicKeyInfo } from '#core/signer.ts';
import type { Caller } from '#core/tenancy.ts';
import { makeEvent } from '../support/events.ts';
import { MemoryLedgerStore } from '../support/memory-ledger-store.ts';

/**
 * Real ledger data (ingested with a real signer into the in-memory store) and the DynamoDB stream records
 * Lambda would deliver for it, for the stream consumer and integrity monitor tests.
 */
export const DEPLOYMENT_ORIGIN = 'audit.example.com';
export const TENANT = 'acme';
export const signer = LocalSigner.generate('p256');

export interface Ledger {
  readonly store: MemoryLedgerStore;
  readonly appends: AppendRecord[];
  readonly events: StoredEvent[];
  readonly key: PublicKeyInfo;
  /** Appends one request's events; returns its append record and events. */
  ingest(
    events: AuditEventInput[],
    options?: { shard?: number; receivedAt?: Date; tenant?: string },
  ): Promise<{ append: AppendRecord; events: StoredEvent[] }>;
}

/** A ledger with `batches[i]` events in its i-th append (shard 0 of tenant acme, received 2026-03-01). */
export async function buildLedger(batches: readonly number[] = [], prefix = 'ledger'): Promise<Ledger> {
  const store = new MemoryLedgerStore();
  const appends: AppendRecord[] = [];
  const events: StoredEvent[] = [];
  let seed = 0;
  const ledger: Ledger = {
    store,
    appends,
    events,
    key: await signer.publicKey(),
    async ingest(input, options = {}) {
      const tenant = options.tenant ?? TENANT;
      const caller: Caller = { tenant, shards: 64, roles: new Set(['writer']) };
      const ingest = createIngest({
        store,
        signer,
        deploymentOrigin: DEPLOYMENT_ORIGIN,
        pickShard: () => options.shard ?? 0,
      });
      const result = await ingest({
        caller,
        identity: {
          principalArn: 'arn:aws:sts::123456789012:assumed-role/Deployer/ci',
          accountId: '123456789012',
          sourceIp: '10.0.0.1',
        },
        receivedAt: options.receivedAt ?? new Date('2026-03-01T10:00:00.000Z'),
        body: { events: input },
      });
      const first = result.receipts[0]!;
      const append = (await store.getAppend(first.origin, startOf(result.receipts)))!;
      const stored = await store.getEvents(
        tenant,
        input.map((event) => event.id),
      );
      const added = input.map((event) => stored.get(event.id)!);
      appends.push(append);
      events.push(...added);
      return { append, events: added };
    },
  };
  for (const count of batches) {
    await ledger.ingest(Array.from({ length: count }, () => makeEvent(`${prefix}-${seed++}`)));
  }
  return ledger;
}

const startOf = (receipts: { leafIndex: number }[]) =>
  Math.min(...receipts.map((receipt) => receipt.leafIndex));

export const originOf = (shard = 0, tenant = TENANT) => `${DEPLOYMENT_ORIGIN}/${tenant}/${shard}`;

export { keyItem, lambdaImage } from '../support/stream-images.ts';

import { keyItem, lambdaImage, type SdkItem } from '../support/stream-images.ts';

export type ItemSource =
  | { event: StoredEvent }
  | { append: AppendRecord }
  | { key: PublicKeyInfo }
  | { item: SdkItem };

export const itemOf = (source: ItemSource): SdkItem =>
  'event' in source
    ? eventToItem(source.event)
    : 'append' in source
      ? appendToItem(source.append)
      : 'key' in source
        ? keyItem(source.key)
        : source.item;

let sequence = 100_000_000_000_000_000_000n;

/** A stream record as Lambda delivers it; sequence numbers grow across calls, like one shard's. */
export function streamRecord(
  source: ItemSource,
  eventName: 'INSERT' | 'MODIFY' | 'REMOVE' = 'INSERT',
): DynamoDBRecord {
  const item = itemOf(source);
  sequence += 1n;
  const image = lambdaImage(item);
  return {
    eventID: `event-${sequence}`,
    eventName,
    eventVersion: '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion: 'eu-west-1',
    eventSourceARN: 'arn:aws:dynamodb:eu-west-1:123456789012:table/ledger/stream/2026-03-01T00:00:00.000',
    dynamodb: {
      ApproximateCreationDateTime: 1772359200,
      Keys: { pk: image.pk!, sk: image.sk! },
      ...(eventName === 'REMOVE' ? { OldImage: image } : { NewImage: image }),
      SequenceNumber: String(sequence),
      SizeBytes: 512,
      StreamViewType: eventName === 'REMOVE' ? 'NEW_AND_OLD_IMAGES' : 'NEW_IMAGE',
    },
  };
}

export const streamEvent = (records: DynamoDBRecord[]): DynamoDBStreamEvent => ({ Records: records });

/** Every INSERT the ledger's items produce, in a given order. */
export function insertsOf(ledger: Ledger): DynamoDBRecord[] {
  return [
    streamRecord({ key: ledger.key }),
    ...ledger.appends.flatMap((append) => [
      streamRecord({ append }),
      ...ledger.events
        .filter((event) => event.origin === append.origin && event.appendStart === append.start)
        .map((event) => streamRecord({ event })),
    ]),
  ];
}

/** Sequence numbers a response reports failed. */
export const failedSequences = (response: DynamoDBBatchResponse | undefined) =>
  (response?.batchItemFailures ?? []).map((failure) => failure.itemIdentifier);

export const sequencesOf = (records: readonly DynamoDBRecord[]) =>
  records.map((record) => record.dynamodb!.SequenceNumber!);

export type Consumer = (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse | undefined>;

/**
 * An event source mapping as AWS documents it: a partial batch response retries from the lowest failed
 * record; a function error with bisect splits the batch in two; after `maxRetries` the remaining records
 * go to the on-failure destination. Returns the dead letters.
 */
export async function deliverLikeLambda(
  consumer: Consumer,
  records: DynamoDBRecord[],
  maxRetries = 2,
): Promise<DynamoDBRecord[]> {
  const deadLetters: DynamoDBRecord[] = [];
  const deliver = async (batch: DynamoDBRecord[], retries: number): Promise<void> => {
    let remaining: DynamoDBRecord[] = [];
    let threw = false;
    try {
      const failed = new Set(failedSequences(await consumer(streamEvent(batch))));
      const first = batch.findIndex((record) => failed.has(record.dynamodb!.SequenceNumber!));
      if (first < 0) return;
      remaining = batch.slice(first);
    } catch {
      threw = true;
      remaining = batch;
    }
    if (threw && remaining.length > 1) {
      const half = Math.ceil(remaining.length / 2);
      await deliver(remaining.slice(0, half), retries);
      await deliver(remaining.slice(half), retries);
      return;
    }
    if (retries >= maxRetries) {
      deadLetters.push(...remaining);
      return;
    }
    await deliver(remaining, retries + 1);
  };
  await deliver(records, 0);
  return deadLetters;
}
