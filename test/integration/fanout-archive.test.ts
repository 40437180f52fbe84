import { randomUUID } from 'node:crypto';
import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import type { Context, DynamoDBStreamEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3ArchiveStore } from '#adapters/s3-archive.ts';
import { type ArchivedAppend, type ArchivedEvent, keyObjectKey } from '#core/archive-layout.ts';
import { parseCheckpointsObject, parseEventsObject } from '#core/archiving.ts';
import { canonicalize } from '#core/canonical.ts';
import { eventKey } from '#core/ledger-layout.ts';
import type { Receipt } from '#core/receipt.ts';
import { localDynamoDbClientConfig } from '../../local/services/dynamodb.ts';
import { localS3ClientConfig } from '../../local/services/s3.ts';
import { createLocalApp } from '../../local/wiring.ts';
import { auditEvent, useSandbox } from './setup/sandbox.ts';

const BREAK_GLASS = 'arn:aws:iam::123456789012:role/BreakGlass';
/** Batches the archiver completed, as the poller delivered them (for redelivery). */
const archivedBatches: DynamoDBStreamEvent[] = [];
const harness = useSandbox({
  stream: { retryBaseDelayMs: 10, pollIntervalMs: 50 },
  createApp: async (options) => {
    const app = await createLocalApp({ ...options, alerts: { breakGlassActors: [BREAK_GLASS] } });
    const streamConsumers = app.streamConsumers.map((consumer) =>
      consumer.name !== 'archiver'
        ? consumer
        : {
            ...consumer,
            handler: async (event: DynamoDBStreamEvent, context: Context) => {
              const response = await consumer.handler(event, context);
              if ((response?.batchItemFailures ?? []).length === 0)
                archivedBatches.push(structuredClone(event));
              return response;
            },
          },
    );
    return { ...app, streamConsumers };
  },
});

let archive: S3ArchiveStore;
let s3: S3Client;
let dynamodb: DynamoDBClient;
beforeAll(() => {
  s3 = new S3Client(localS3ClientConfig(harness.sandbox.s3.endpoint, harness.sandbox.region));
  archive = new S3ArchiveStore(s3, harness.sandbox.s3.bucket);
  dynamodb = new DynamoDBClient(
    localDynamoDbClientConfig(harness.sandbox.dynamodb.endpoint, harness.sandbox.region),
  );
});
afterAll(() => {
  s3.destroy();
  dynamodb.destroy();
});

async function post(events: Record<string, unknown>[]): Promise<Receipt[]> {
  const response = await harness.call('writer', { path: '/v1/events', body: { events } });
  expect(response.status).toBe(201);
  return response.json<{ receipts: Receipt[] }>().receipts;
}

const settle = () => harness.sandbox.waitForIdle({ timeoutMs: 10_000 });

async function keys(prefix: string): Promise<string[]> {
  const all: string[] = [];
  for await (const key of archive.list(prefix)) all.push(key);
  return all;
}

/** Every archived event line, by `<origin> <leafIndex>`, with all the copies retries may have written. */
async function archivedEvents(): Promise<Map<string, ArchivedEvent[]>> {
  const lines = new Map<string, ArchivedEvent[]>();
  for (const key of await keys('events/')) {
    for (const line of parseEventsObject((await archive.get(key))!)) {
      const id = `${line.origin} ${line.leafIndex}`;
      lines.set(id, [...(lines.get(id) ?? []), line]);
    }
  }
  return lines;
}

async function archivedCheckpoints(): Promise<ArchivedAppend[]> {
  const appends: ArchivedAppend[] = [];
  for (const key of await keys('checkpoints/'))
    appends.push(...parseCheckpointsObject((await archive.get(key))!));
  return appends;
}

/** One event per catalogue rule, and two that match none. */
const scenario = {
  'denied-or-failed-access': auditEvent({
    category: 'access',
    outcome: 'denied',
    action: 'console.login',
    reason: 'r',
  }),
  'policy-change': auditEvent({ category: 'access', action: 'iam.attach-role-policy', reason: 'r' }),
  'production-deletion': auditEvent({
    action: 'bucket.delete',
    category: 'data',
    source: { system: 'tf', environment: 'prod' },
    reason: 'r',
  }),
  'break-glass-actor': auditEvent({ actor: { type: 'user', id: BREAK_GLASS }, reason: 'r' }),
  'production-change-without-reason': auditEvent({ source: { system: 'ci', environment: 'production' } }),
  none: auditEvent({ source: { system: 'ci', environment: 'staging' } }),
  'none-either': auditEvent({ category: 'access', outcome: 'success', action: 'iamx.read', reason: 'r' }),
};

describe('fan-out: archive and alerts', () => {
  const receipts: Receipt[] = [];

  beforeAll(async () => {
    const events = Object.values(scenario);
    receipts.push(
      ...(await post(events.slice(0, 3))),
      ...(await post(events.slice(3, 5))),
      ...(await post(events.slice(5))),
    );
    await settle();
  });

  it('archives every record exactly as stored, with every checkpoint and the signing key', async () => {
    const archived = await archivedEvents();
    for (const receipt of receipts) {
      const copies = archived.get(`${receipt.origin} ${receipt.leafIndex}`) ?? [];
      expect(copies.length).toBeGreaterThan(0);
      for (const copy of copies) {
        expect(copy.leafHash).toBe(receipt.leafHash);
        expect(copy.record.id).toBe(receipt.eventId);
      }
    }
    const checkpoints = new Set((await archivedCheckpoints()).map((append) => append.checkpoint.body));
    for (const receipt of receipts) expect(checkpoints).toContain(receipt.checkpoint.body);
    const keyIds = new Set(receipts.map((receipt) => receipt.checkpoint.keyId));
    for (const keyId of keyIds) expect(await archive.get(keyObjectKey(keyId))).toBeDefined();
  });

  it('fires each matching rule exactly once per matching event and never for the others', () => {
    const alerts = harness.sandbox.app.alerts ?? [];
    const fired = (eventId: string) =>
      alerts
        .filter((alert) => (alert.event.detail as { eventId?: string }).eventId === eventId)
        .map((alert) => alert.rule);
    for (const [rule, event] of Object.entries(scenario)) {
      expect(fired(event.id as string)).toEqual(rule.startsWith('none') ? [] : [rule]);
    }
  });

  it('sends a poison record to the on-failure destination and archives the records around it', async () => {
    const before = await post([auditEvent({ reason: 'before' })]);
    const poisonId = randomUUID();
    const key = eventKey(harness.sandbox.tenant, poisonId);
    await dynamodb.send(
      new PutItemCommand({
        TableName: harness.sandbox.dynamodb.table,
        Item: {
          pk: { S: key.pk },
          sk: { S: key.sk },
          record: { S: '{"not":"a record"' },
          origin: { S: 'x' },
        },
      }),
    );
    const after = await post([auditEvent({ reason: 'after' })]);
    await settle();
    const letters = harness.sandbox.poller.deadLetters.filter((letter) =>
      letter.records.some((record) => record.dynamodb?.Keys?.pk?.S === key.pk),
    );
    expect(letters.map((letter) => letter.consumer).sort()).toEqual(['alerter', 'archiver']);
    for (const letter of letters)
      expect(letter.records.map((record) => record.dynamodb?.Keys?.pk?.S)).toEqual([key.pk]);
    const archived = await archivedEvents();
    for (const receipt of [...before, ...after])
      expect(archived.has(`${receipt.origin} ${receipt.leafIndex}`)).toBe(true);
  });

  it('writes the same objects again when a batch is redelivered, never a second, different record', async () => {
    const snapshot = async () => {
      const objects = new Map<string, string>();
      for (const key of [
        ...(await keys('events/')),
        ...(await keys('checkpoints/')),
        ...(await keys('keys/')),
      ]) {
        objects.set(key, Buffer.from((await archive.get(key))!).toString('base64'));
      }
      return objects;
    };
    const before = await snapshot();
    const archiver = harness.sandbox.app.streamConsumers.find((consumer) => consumer.name === 'archiver')!;
    const batches = archivedBatches.filter((batch) =>
      batch.Records.some((record) => record.eventName === 'INSERT'),
    );
    expect(batches.length).toBeGreaterThan(0);
    for (const batch of batches) {
      const response = await archiver.handler(batch, {} as Context);
      expect(response?.batchItemFailures ?? []).toEqual([]);
    }
    expect(await snapshot()).toEqual(before);
    for (const copies of (await archivedEvents()).values()) {
      expect(new Set(copies.map((copy) => canonicalize(copy))).size).toBe(1);
    }
  });
});
