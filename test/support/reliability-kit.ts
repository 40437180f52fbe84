import type { APIGatewayProxyEvent, DynamoDBRecord } from 'aws-lambda';
import { appendToItem, eventToItem } from '#adapters/dynamo-ledger-store.ts';
import { LocalSigner } from '#adapters/local-signer.ts';
import { createIngest, type IngestResult } from '#core/ingest.ts';
import type {
  AppendRecord,
  ArchiveStore,
  EventPage,
  EventQuery,
  LedgerStore,
  LogHead,
  StoredEvent,
} from '#core/ports.ts';
import type { AuditEventInput } from '#core/schema.ts';
import type { PublicKeyInfo, Signer } from '#core/signer.ts';
import { type Caller, logOrigin, TenantsConfig } from '#core/tenancy.ts';
import type { AppendWithLeavesJson } from '#core/wire.ts';
import { createReadHandler } from '../../lambdas/http/read.ts';
import { apiEvent, responseBody } from './apigw.ts';
import { makeEvent } from './events.ts';
import { MemoryLedgerStore } from './memory-ledger-store.ts';

/**
 * Shared pieces of the reliability suite (test/reliability): a seeded PRNG so every random choice is
 * reproducible, a one-line count printer, an in-memory archive, a log builder that uses the real ingest
 * use case, the read API as an auditor sees it, and ledger items as DynamoDB stream records.
 */

/** mulberry32: tiny, fast and deterministic; every reliability test draws from a fixed seed. */
export function prng(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  return {
    next,
    /** Integer in [0, n). */
    int: (n: number) => Math.floor(next() * n),
    /** Integer in [min, max]. */
    between: (min: number, max: number) => min + Math.floor(next() * (max - min + 1)),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!,
    chance: (p: number) => next() < p,
  };
}
export type Prng = ReturnType<typeof prng>;

/** One summary line per test, so the counts show in the test output: `[reliability] name: a=1 b=2`. */
export function printCounts(name: string, counts: Record<string, number | string | boolean>): void {
  console.log(
    `[reliability] ${name}: ${Object.entries(counts)
      .map(([key, value]) => `${key}=${value}`)
      .join(' ')}`,
  );
}

export const DEPLOYMENT_ORIGIN = 'audit.example.com/rel';
export const TENANT = 'acme';
export const ACCOUNT = '123456789012';
export const WRITER_ROLE = `arn:aws:iam::${ACCOUNT}:role/AcmeDeployer`;
export const READER_ROLE = `arn:aws:iam::${ACCOUNT}:role/AcmeReader`;
export const AUDITOR_ROLE = `arn:aws:iam::${ACCOUNT}:role/AcmeAuditor`;
export const session = (role: string) =>
  `arn:aws:sts::${ACCOUNT}:assumed-role/${role.split('/').pop()}/rel-session`;
export const WRITER = session(WRITER_ROLE);
export const READER = session(READER_ROLE);
export const AUDITOR = session(AUDITOR_ROLE);

export const tenantsConfig = (shards = 1) =>
  TenantsConfig.parse({
    tenants: [
      { name: TENANT, shards, writers: [WRITER_ROLE], readers: [READER_ROLE], auditors: [AUDITOR_ROLE] },
    ],
  });

export const writerCaller = (shards = 1): Caller => ({ tenant: TENANT, shards, roles: new Set(['writer']) });
export const IDENTITY = {
  principalArn: WRITER,
  accountId: ACCOUNT,
  sourceIp: '10.0.0.1',
  userAgent: 'reliability-suite/1.0',
} as const;
export const originOf = (shard = 0) => logOrigin(DEPLOYMENT_ORIGIN, TENANT, shard);

/** An ArchiveStore in memory (S3 semantics: a put replaces the object, list is in key order). */
export class MemoryArchive implements ArchiveStore {
  readonly objects = new Map<string, Uint8Array>();
  puts = 0;

  async put(key: string, body: Uint8Array): Promise<void> {
    this.puts++;
    this.objects.set(key, new Uint8Array(body));
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const body = this.objects.get(key);
    return body ? new Uint8Array(body) : undefined;
  }

  async *list(prefix: string): AsyncIterable<string> {
    yield* [...this.objects.keys()].filter((key) => key.startsWith(prefix)).sort();
  }

  /** A copy to damage (object bodies are shared until replaced, which is all a tamper does). */
  clone(): MemoryArchive {
    const copy = new MemoryArchive();
    for (const [key, body] of this.objects) copy.objects.set(key, body);
    return copy;
  }
}

/** A successful commit as the store saw it, in commit order (what the table's stream would carry). */
export interface Commit {
  readonly append: AppendRecord;
  readonly events: readonly StoredEvent[];
}

/** Delegates to a store and records, in order, every commit that stored something and every new key. */
export class RecordingStore implements LedgerStore {
  readonly commits: Commit[] = [];
  readonly keys: PublicKeyInfo[] = [];
  /** Commits and key registrations interleaved, in the order they happened. */
  readonly writes: ({ kind: 'commit'; commit: Commit } | { kind: 'key'; key: PublicKeyInfo })[] = [];

  constructor(readonly inner: LedgerStore) {}

  readHead(origin: string): Promise<LogHead> {
    return this.inner.readHead(origin);
  }
  getEvents(tenant: string, eventIds: readonly string[]): Promise<Map<string, StoredEvent>> {
    return this.inner.getEvents(tenant, eventIds);
  }
  async commitAppend(append: AppendRecord, events: readonly StoredEvent[]): Promise<void> {
    await this.inner.commitAppend(append, events);
    const commit = { append, events: [...events] };
    this.commits.push(commit);
    this.writes.push({ kind: 'commit', commit });
  }
  getAppend(origin: string, start: number): Promise<AppendRecord | undefined> {
    return this.inner.getAppend(origin, start);
  }
  listAppends(origin: string, fromStart: number, limit: number) {
    return this.inner.listAppends(origin, fromStart, limit);
  }
  async registerKey(key: PublicKeyInfo): Promise<void> {
    const known = (await this.inner.listKeys()).some((existing) => existing.keyId === key.keyId);
    await this.inner.registerKey(key);
    if (!known) {
      this.keys.push(key);
      this.writes.push({ kind: 'key', key });
    }
  }
  listKeys(): Promise<PublicKeyInfo[]> {
    return this.inner.listKeys();
  }
  queryEvents(query: EventQuery): Promise<EventPage> {
    return this.inner.queryEvents(query);
  }
}

export interface BuiltLog {
  readonly store: RecordingStore;
  readonly memory: MemoryLedgerStore;
  readonly signer: Signer;
  readonly keys: PublicKeyInfo[];
  /** Origins that received at least one append, sorted. */
  readonly origins: string[];
  /** Appends per origin in log order. */
  readonly appends: Map<string, AppendRecord[]>;
  /** Stored events per origin, by leaf index. */
  readonly leaves: Map<string, StoredEvent[]>;
  readonly results: IngestResult[];
}

export interface BuildLogOptions {
  readonly events: number;
  readonly seed: number;
  readonly shards?: number;
  /** Largest append; sizes are drawn from [1, maxBatch]. @default 98 */
  readonly maxBatch?: number;
  /** Draws an append's size (overrides maxBatch). */
  readonly batchSize?: (random: Prng) => number;
  readonly prefix?: string;
  readonly signer?: Signer;
  /** Event of the i-th position (defaults to makeEvent). */
  readonly event?: (i: number) => AuditEventInput;
  readonly receivedAt?: (append: number) => Date;
}

/** A log built with the real ingest use case and a real signer: appends of seeded, varying sizes. */
export async function buildLog(options: BuildLogOptions): Promise<BuiltLog> {
  const random = prng(options.seed);
  const shards = options.shards ?? 1;
  const memory = new MemoryLedgerStore();
  const store = new RecordingStore(memory);
  const signer = options.signer ?? LocalSigner.generate('p256');
  let shard = 0;
  const ingest = createIngest({ store, signer, deploymentOrigin: DEPLOYMENT_ORIGIN, pickShard: () => shard });
  const results: IngestResult[] = [];
  const prefix = options.prefix ?? `log-${options.seed}`;
  const event = options.event ?? ((i: number) => makeEvent(`${prefix}-${i}`));
  let made = 0;
  for (let append = 0; made < options.events; append++) {
    const count = Math.min(
      options.events - made,
      options.batchSize?.(random) ?? random.between(1, options.maxBatch ?? 98),
    );
    shard = random.int(shards);
    const batch = Array.from({ length: count }, (_, i) => event(made + i));
    made += count;
    results.push(
      await ingest({
        caller: writerCaller(shards),
        identity: IDENTITY,
        receivedAt: options.receivedAt?.(append) ?? new Date(Date.UTC(2026, 2, 1, 10, 0, 0) + append * 1000),
        body: { events: batch },
      }),
    );
  }
  const appends = new Map<string, AppendRecord[]>();
  const leaves = new Map<string, StoredEvent[]>();
  for (const commit of store.commits) {
    const origin = commit.append.origin;
    appends.set(origin, [...(appends.get(origin) ?? []), commit.append]);
    leaves.set(origin, [...(leaves.get(origin) ?? []), ...commit.events]);
  }
  return {
    store,
    memory,
    signer,
    keys: await memory.listKeys(),
    origins: [...appends.keys()].sort(),
    appends,
    leaves,
    results,
  };
}

/** The read API (createReadHandler) as an auditor calls it, over any LedgerStore. */
export function auditorApi(store: LedgerStore, shards = 1) {
  const handler = createReadHandler({
    store,
    tenants: tenantsConfig(shards),
    deploymentOrigin: DEPLOYMENT_ORIGIN,
  });
  const get = async (
    resource: string,
    pathParameters?: Record<string, string>,
    query?: Record<string, string>,
  ) => {
    const response = await handler(
      apiEvent({
        method: 'GET',
        resource,
        principalArn: AUDITOR,
        ...(pathParameters ? { pathParameters } : {}),
        ...(query ? { query } : {}),
      }),
    );
    return { status: response.statusCode, body: responseBody(response), raw: response.body };
  };
  return {
    handler,
    get,
    async publicKeys(): Promise<PublicKeyInfo[]> {
      const response = await get('/v1/public-keys');
      if (response.status !== 200) throw new Error(`public keys: ${response.status} ${response.raw}`);
      return response.body.keys;
    },
    /** Appends of a log from `from` on, page by page (`limit` appends per page), as the CLI pages them. */
    async *appends(origin: string, from = 0, limit = 20): AsyncIterable<AppendWithLeavesJson> {
      let next: number | null = from;
      while (next !== null) {
        const response = await get(
          '/v1/logs/{origin}/appends',
          { origin },
          { from: String(next), limit: String(limit) },
        );
        if (response.status !== 200)
          throw new Error(`appends of ${origin}: ${response.status} ${response.raw}`);
        yield* response.body.appends as AppendWithLeavesJson[];
        next = response.body.next;
      }
    },
    event: (id: string) => get('/v1/events/{id}', { id }),
  };
}

export { keyItem, lambdaImage } from './stream-images.ts';

import { keyItem, lambdaImage, type SdkItem } from './stream-images.ts';

/** Numbers stream sequence numbers like one shard does (increasing, 21+ digits). */
export class SequenceSource {
  private next = 100_000_000_000_000_000_000n;
  take(): string {
    this.next += 1n;
    return String(this.next);
  }
}

/** A DynamoDB stream INSERT record as Lambda delivers it. */
export function insertRecord(item: SdkItem, sequences: SequenceSource): DynamoDBRecord {
  const image = lambdaImage(item);
  const sequence = sequences.take();
  return {
    eventID: `rel-${sequence}`,
    eventName: 'INSERT',
    eventVersion: '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion: 'eu-west-1',
    eventSourceARN: 'arn:aws:dynamodb:eu-west-1:123456789012:table/ledger/stream/2026-03-01T00:00:00.000',
    dynamodb: {
      ApproximateCreationDateTime: 1772359200,
      Keys: { pk: image.pk!, sk: image.sk! },
      NewImage: image,
      SequenceNumber: sequence,
      SizeBytes: 512,
      StreamViewType: 'NEW_IMAGE',
    },
  };
}

/** The INSERT records the table's stream carries for a recorded store, in write order. */
export function streamOf(store: RecordingStore, sequences = new SequenceSource()): DynamoDBRecord[] {
  return store.writes.flatMap((write) =>
    write.kind === 'key'
      ? [insertRecord(keyItem(write.key), sequences)]
      : [
          insertRecord(appendToItem(write.commit.append), sequences),
          ...write.commit.events.map((event) => insertRecord(eventToItem(event), sequences)),
        ],
  );
}

/** An API Gateway POST /v1/events from the shared fixture. */
export const postEvent = (
  body: string | null,
  options: { contentType?: string | null; principal?: string } = {},
): APIGatewayProxyEvent =>
  apiEvent({
    method: 'POST',
    resource: '/v1/events',
    principalArn: options.principal ?? WRITER,
    body,
    ...(options.contentType !== undefined ? { contentType: options.contentType } : {}),
  });
