import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBridgeClient, PutEventsCommand, type PutEventsCommandInput } from '@aws-sdk/client-eventbridge';
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirectoryArchiveStore } from '#adapters/directory-archive.ts';
import { appendFromItem, eventFromItem } from '#adapters/dynamo-ledger-store.ts';
import { EventBridgeBus } from '#adapters/eventbridge-bus.ts';
import { recordTextOf } from '#core/archive-layout.ts';
import { canonicalize } from '#core/canonical.ts';
import type { ArchiveStore } from '#core/ports.ts';
import { bindParameters, findReport } from '#core/report-queries.ts';
import { appendToJson } from '#core/wire.ts';
import { readArchive } from '../../cli/archive/read-archive.ts';
import { verifyRegularArchive } from '../../cli/archive/regular-archive.ts';
import { verifyArchive } from '../../cli/archive/verify-archive.ts';
import { runLocalReport } from '../../cli/reports/local-engine.ts';
import { createAlerter } from '../../lambdas/streams/alerter.ts';
import { createArchiver } from '../../lambdas/streams/archiver.ts';
import type { LedgerItemCodec } from '../../lambdas/streams/ledger-records.ts';
import {
  type BuiltLog,
  buildLog,
  insertRecord,
  type Prng,
  printCounts,
  prng,
  SequenceSource,
  streamOf,
  TENANT,
} from '../support/reliability-kit.ts';

/**
 * The stream consumers under the faults a DynamoDB stream event source mapping delivers: batches from two
 * shards interleaved (so event, append and key records arrive out of order), batches delivered twice,
 * older batches replayed after newer ones, 1% of records failing at random on each attempt (seeded), 1%
 * of archive writes failing, and a few poison records that never succeed. The driver below has the event
 * source mapping's redelivery semantics, as `local/stream-poller.ts` implements them for the sandbox (that
 * class reads DynamoDB Local's stream, so its delivery loop is reproduced here over an in-memory shard):
 * a partial batch response retries from the first failed record, a function error bisects the batch, and
 * after the retries the remaining records go to the on-failure destination. The destination is redriven
 * once the faults are over, as an operator would.
 *
 * Afterwards no record is lost (each is in the archive or the on-failure destination), the archive
 * verifies, and `verify --archive` and the report engine (DuckDB) see each record exactly once although
 * the archive holds some records in two objects (readers de-duplicate on origin and leaf index).
 */

const SEED = 90_210;
const EVENTS = 3_000;
const BATCH = 100;
const MAX_RETRIES = 3;
const FAILURE_RATE = 0.01;
const eventBridge = mockClient(EventBridgeClient);

type Consumer = (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse | undefined>;

/** An event source mapping: partial batch responses, bisect on error, bounded retries, on-failure destination. */
class EventSourceMapping {
  readonly deadLetters: DynamoDBRecord[] = [];
  invocations = 0;
  retries = 0;
  bisections = 0;

  constructor(private readonly consumer: Consumer) {}

  async deliver(batch: DynamoDBRecord[], retries = 0): Promise<void> {
    this.invocations++;
    let remaining: DynamoDBRecord[];
    let threw = false;
    try {
      const response = await this.consumer({ Records: batch });
      const failures = response?.batchItemFailures ?? [];
      if (failures.length === 0) return;
      const indexes = failures.map((failure) =>
        batch.findIndex((record) => record.dynamodb?.SequenceNumber === failure.itemIdentifier),
      );
      // A failure naming no record of the batch fails the whole batch (as Lambda treats it).
      remaining = indexes.some((index) => index < 0) ? batch : batch.slice(Math.min(...indexes));
      threw = indexes.some((index) => index < 0);
    } catch {
      remaining = batch;
      threw = true;
    }
    if (threw && remaining.length > 1) {
      this.bisections++;
      const half = Math.ceil(remaining.length / 2);
      await this.deliver(remaining.slice(0, half), retries);
      await this.deliver(remaining.slice(half), retries);
      return;
    }
    if (retries >= MAX_RETRIES) {
      this.deadLetters.push(...remaining);
      return;
    }
    this.retries++;
    await this.deliver(remaining, retries + 1);
  }
}

interface Faults {
  on: boolean;
  recordFailures: number;
  writeFailures: number;
  publishFailures: number;
  /** Calls still to fail in a row (an S3 or EventBridge outage). */
  outage: number;
}

/** The ledger codec failing 1% of decodes while faults are on (a transient error on that record). */
const flakyCodec = (random: Prng, faults: Faults): LedgerItemCodec => ({
  eventFromItem: (item) => {
    if (faults.on && random.chance(FAILURE_RATE)) {
      faults.recordFailures++;
      throw new Error('transient failure processing this record');
    }
    return eventFromItem(item);
  },
  appendFromItem: (item) => {
    if (faults.on && random.chance(FAILURE_RATE)) {
      faults.recordFailures++;
      throw new Error('transient failure processing this record');
    }
    return appendFromItem(item);
  },
});

class FlakyArchive implements ArchiveStore {
  constructor(
    private readonly inner: ArchiveStore,
    private readonly random: Prng,
    private readonly faults: Faults,
  ) {}
  async put(key: string, body: Uint8Array, contentType: string): Promise<void> {
    if (this.faults.on && (this.faults.outage > 0 || this.random.chance(FAILURE_RATE))) {
      this.faults.outage = Math.max(0, this.faults.outage - 1);
      this.faults.writeFailures++;
      throw Object.assign(new Error('We encountered an internal error. Please try again.'), {
        name: 'InternalError',
      });
    }
    await this.inner.put(key, body, contentType);
  }
  get(key: string) {
    return this.inner.get(key);
  }
  list(prefix: string) {
    return this.inner.list(prefix);
  }
}

/** EventBridge behind the real bus adapter: PutEvents fails entries at random (FailedEntryCount) or whole calls. */
function flakyEventBridge(random: Prng, faults: Faults) {
  const published: string[] = [];
  eventBridge.reset();
  eventBridge.on(PutEventsCommand).callsFake((input: PutEventsCommandInput) => {
    if (faults.on && faults.outage > 0) {
      faults.outage--;
      throw Object.assign(new Error('Service unavailable'), { name: 'InternalException' });
    }
    const results = (input.Entries ?? []).map((entry) => {
      if (faults.on && random.chance(FAILURE_RATE)) {
        faults.publishFailures++;
        return { ErrorCode: 'InternalFailure', ErrorMessage: 'try again' };
      }
      published.push((JSON.parse(entry.Detail!) as { eventId: string }).eventId);
      return { EventId: `id-${published.length}` };
    });
    return {
      $metadata: {},
      Entries: results,
      FailedEntryCount: results.filter((r) => 'ErrorCode' in r).length,
    };
  });
  return {
    bus: new EventBridgeBus(new EventBridgeClient({ region: 'eu-west-1' }), 'audit', { baseDelayMs: 0 }),
    published,
  };
}

/** Records that never process: a record that is not JSON, an append item without its checkpoint. */
function poisonRecords(sequences: SequenceSource): DynamoDBRecord[] {
  const events = [0, 1, 2].map((i) =>
    insertRecord(
      {
        pk: { S: `EVENT#${TENANT}#00000000-0000-4000-8000-00000000000${i}` },
        sk: { S: 'EVENT' },
        record: { S: `{"id": "half a record ${i}` },
        origin: { S: 'audit.example.com/rel/acme/0' },
        leafIndex: { N: String(900_000 + i) },
        appendStart: { N: String(900_000 + i) },
        leafHash: { B: new Uint8Array(32) },
      },
      sequences,
    ),
  );
  const append = insertRecord(
    {
      pk: { S: 'LOG#audit.example.com/rel/acme/1' },
      sk: { S: 'APPEND#0000000000900000' },
      origin: { S: 'x' },
    },
    sequences,
  );
  return [...events, append];
}

/** Two shards (by partition key), consumed in order each, their batches interleaved; duplicates and replays. */
async function drive(esm: EventSourceMapping, shards: DynamoDBRecord[][], random: Prng, faults: Faults) {
  const outageAt = random.between(5, 40);
  const lanes = shards.map((records) => ({ records, position: 0 }));
  const replays: { at: number; batch: DynamoDBRecord[] }[] = [];
  let step = 0;
  let duplicates = 0;
  let replayed = 0;
  while (lanes.some((lane) => lane.position < lane.records.length) || replays.length > 0) {
    step++;
    for (const due of replays.filter((replay) => replay.at <= step)) {
      replays.splice(replays.indexOf(due), 1);
      replayed++;
      await esm.deliver(due.batch);
    }
    const active = lanes.filter((lane) => lane.position < lane.records.length);
    if (active.length === 0) {
      step = Math.max(step, ...replays.map((replay) => replay.at));
      continue;
    }
    // Once, a dependency is down for longer than the retries last: records reach the on-failure destination.
    if (step === outageAt) faults.outage = 3 * (MAX_RETRIES + 1);
    const lane = random.pick(active);
    const batch = lane.records.slice(lane.position, lane.position + random.between(1, BATCH));
    await esm.deliver(batch);
    lane.position += batch.length;
    if (random.chance(0.1)) {
      duplicates++;
      await esm.deliver(batch);
    }
    if (random.chance(0.1)) replays.push({ at: step + random.between(1, 20), batch });
  }
  return { duplicates, replayed };
}

function shardsOf(records: DynamoDBRecord[], poison: DynamoDBRecord[], random: Prng): DynamoDBRecord[][] {
  const shards: DynamoDBRecord[][] = [[], []];
  const shardOf = (pk: string) => [...pk].reduce((sum, char) => sum + char.charCodeAt(0), 0) % 2;
  for (const record of records) shards[shardOf(record.dynamodb!.Keys!.pk!.S!)]!.push(record);
  for (const record of poison) {
    const shard = shards[random.int(2)]!;
    shard.splice(random.int(shard.length), 0, record);
  }
  return shards;
}

const seq = (record: DynamoDBRecord) => record.dynamodb!.SequenceNumber!;

let log: BuiltLog;
let records: DynamoDBRecord[];
let poison: DynamoDBRecord[];
const dir = mkdtempSync(join(tmpdir(), 'rel-stream-faults-'));

beforeAll(async () => {
  log = await buildLog({
    events: EVENTS,
    seed: SEED,
    shards: 2,
    batchSize: (random) => random.between(1, 30),
  });
  const sequences = new SequenceSource();
  records = streamOf(log.store, sequences);
  poison = poisonRecords(sequences);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('stream consumers under redelivery, duplicates, reordering and random failures', () => {
  it('archives every record exactly once as readers see it; nothing lost, archive verifies', async () => {
    const random = prng(SEED);
    const faults: Faults = { on: true, recordFailures: 0, writeFailures: 0, publishFailures: 0, outage: 0 };
    const archive = new DirectoryArchiveStore(join(dir, 'archive'));
    const archiver = createArchiver({
      archive: new FlakyArchive(archive, random, faults),
      codec: flakyCodec(random, faults),
    });
    const esm = new EventSourceMapping(archiver);
    const delivery = await drive(esm, shardsOf(records, poison, random), random, faults);

    // 0 lost: every record is in the archive (same content) or in the on-failure destination.
    let contents = await readArchive(archive);
    const inDestination = new Set(esm.deadLetters.map(seq));
    const archived = (record: DynamoDBRecord) => {
      const pk = record.dynamodb!.Keys!.pk!.S!;
      const item = record.dynamodb!.NewImage!;
      if (pk === 'KEYS') return contents.keys.some((key) => key.keyId === item.keyId!.S);
      if (pk.startsWith('LOG#')) {
        const append = log.store.commits.find(
          (commit) =>
            commit.append.origin === item.origin!.S && String(commit.append.start) === item.start!.N,
        )!.append;
        const stored = contents.appends.get(append.origin)?.get(append.start);
        return stored !== undefined && canonicalize(stored) === canonicalize(appendToJson(append));
      }
      const line = contents.events.get(item.origin!.S!)?.get(Number(item.leafIndex!.N));
      return line !== undefined && recordTextOf(line) === item.record!.S;
    };
    const lostFirstPass = records.filter(
      (record) => !archived(record) && !inDestination.has(seq(record)),
    ).length;
    const poisonArchived = poison.filter((record) => !inDestination.has(seq(record))).length;
    const deadLettersFirstPass = new Set(esm.deadLetters.map(seq)).size;

    // The faults are over: the on-failure destination is redriven, once.
    faults.on = false;
    const redrive = new EventSourceMapping(archiver);
    const letters = [...new Map(esm.deadLetters.map((record) => [seq(record), record])).values()];
    for (let i = 0; i < letters.length; i += BATCH) await redrive.deliver(letters.slice(i, i + BATCH));
    contents = await readArchive(archive);
    const lost = records.filter((record) => !archived(record)).length;
    const stillDead = new Set(redrive.deadLetters.map(seq));

    // Readers see each record once although some are stored twice.
    let lines = 0;
    for (const origin of contents.events.keys()) lines += contents.events.get(origin)!.size;
    const report = await verifyArchive(archive);
    // The same archive as the streaming fast path reads it: copies stored by retried batches are compared,
    // not sent to the path that loads the whole archive.
    const fast = await verifyRegularArchive(archive);
    const period = { from: '2026-03-01', to: '2026-03-02' };
    const summary = await runLocalReport(
      bindParameters(findReport('daily-summary'), period),
      join(dir, 'archive'),
    );
    const summed = summary.rows.reduce((sum, row) => sum + Number(row.events), 0);
    const listed: string[] = [];
    for (const actor of ['ci-runner-0', 'ci-runner-1', 'ci-runner-2']) {
      const activity = await runLocalReport(
        bindParameters(findReport('actor-activity'), { ...period, actor }),
        join(dir, 'archive'),
      );
      listed.push(...activity.rows.map((row) => String(row.event_id)));
    }
    const copies = await archivedCopies(archive);
    printCounts('stream-faults archiver', {
      records: records.length,
      poison: poison.length,
      invocations: esm.invocations,
      retries: esm.retries,
      bisections: esm.bisections,
      duplicateBatches: delivery.duplicates,
      replayedBatches: delivery.replayed,
      recordFailures: faults.recordFailures,
      writeFailures: faults.writeFailures,
      deadLettersFirstPass,
      lostFirstPass,
      lost,
      deadLettersAfterRedrive: stillDead.size,
      leafCopiesStoredTwice: copies,
      uniqueLines: lines,
      verifyListed: report.eventsListed,
      fastPathAccepted: fast?.ok === true,
      reportEvents: summed,
      reportListed: listed.length,
      reportUnique: new Set(listed).size,
    });
    expect(lostFirstPass).toBe(0);
    expect(poisonArchived).toBe(0);
    expect(lost).toBe(0);
    expect([...stillDead].sort()).toEqual(poison.map(seq).sort());
    expect(report.failure).toBeUndefined();
    expect(report.eventsListed).toBe(EVENTS);
    expect(fast).toMatchObject({ ok: true, totals: report.totals, eventsListed: EVENTS });
    expect(lines).toBe(EVENTS);
    expect(summed).toBe(EVENTS);
    expect(listed.length).toBe(EVENTS);
    expect(new Set(listed).size).toBe(EVENTS);
    // The faults really happened: records failed, writes failed, batches came twice and out of order.
    expect(faults.recordFailures).toBeGreaterThan(0);
    expect(faults.writeFailures).toBeGreaterThan(0);
    expect(delivery.duplicates + delivery.replayed).toBeGreaterThan(0);
    expect(deadLettersFirstPass).toBeGreaterThan(poison.length);
  });

  it('publishes every event to the bus at least once (duplicates counted, none lost)', async () => {
    const random = prng(SEED + 1);
    const faults: Faults = { on: true, recordFailures: 0, writeFailures: 0, publishFailures: 0, outage: 0 };
    const { bus, published } = flakyEventBridge(random, faults);
    const alerter = createAlerter({ bus, codec: flakyCodec(random, faults) });
    const esm = new EventSourceMapping(alerter);
    const delivery = await drive(esm, shardsOf(records, poison, random), random, faults);
    const publishedIds = () => new Set(published);
    const events = records.filter((record) => record.dynamodb!.Keys!.pk!.S!.startsWith('EVENT#'));
    const idOf = (record: DynamoDBRecord) => eventFromItem(record.dynamodb!.NewImage as never).eventId;
    const inDestination = new Set(esm.deadLetters.map(seq));
    const lostFirstPass = events.filter(
      (record) => !publishedIds().has(idOf(record)) && !inDestination.has(seq(record)),
    ).length;
    faults.on = false;
    const redrive = new EventSourceMapping(alerter);
    const letters = [...new Map(esm.deadLetters.map((record) => [seq(record), record])).values()];
    for (let i = 0; i < letters.length; i += BATCH) await redrive.deliver(letters.slice(i, i + BATCH));
    const ids = publishedIds();
    const lost = events.filter((record) => !ids.has(idOf(record))).length;
    const counts = new Map<string, number>();
    for (const id of published) counts.set(id, (counts.get(id) ?? 0) + 1);
    printCounts('stream-faults alerter', {
      events: events.length,
      invocations: esm.invocations,
      retries: esm.retries,
      bisections: esm.bisections,
      duplicateBatches: delivery.duplicates,
      replayedBatches: delivery.replayed,
      recordFailures: faults.recordFailures,
      publishFailures: faults.publishFailures,
      lostFirstPass,
      lost,
      deadLettersFirstPass: new Set(esm.deadLetters.map(seq)).size,
      published: published.length,
      publishedMoreThanOnce: [...counts.values()].filter((n) => n > 1).length,
      deadLettersAfterRedrive: new Set(redrive.deadLetters.map(seq)).size,
    });
    expect(lostFirstPass).toBe(0);
    expect(lost).toBe(0);
    expect(ids.size).toBe(EVENTS);
    // Only the poison events (not JSON) stay in the on-failure destination; the poison append is not an event.
    expect(new Set(redrive.deadLetters.map(seq))).toEqual(new Set(poison.slice(0, 3).map(seq)));
    expect(faults.recordFailures + faults.publishFailures).toBeGreaterThan(0);
    expect(new Set(esm.deadLetters.map(seq)).size).toBeGreaterThan(3);
  });
});

/** Leaves stored in more than one events object (always with identical content: readArchive checks that). */
async function archivedCopies(archive: ArchiveStore): Promise<number> {
  const { gunzipSync } = await import('node:zlib');
  const seen = new Map<string, number>();
  for await (const key of archive.list('events/')) {
    const text = gunzipSync((await archive.get(key))!).toString('utf8');
    for (const line of text.split('\n').filter(Boolean)) {
      const { origin, leafIndex } = JSON.parse(line) as { origin: string; leafIndex: number };
      const id = `${origin}#${leafIndex}`;
      seen.set(id, (seen.get(id) ?? 0) + 1);
    }
  }
  return [...seen.values()].filter((n) => n > 1).length;
}
