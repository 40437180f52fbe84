import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AttributeValue as SdkAttributeValue } from '@aws-sdk/client-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { DirectoryArchiveStore } from '#adapters/directory-archive.ts';
import { appendFromItem, appendToItem, eventFromItem, eventToItem } from '#adapters/dynamo-ledger-store.ts';
import { LocalSigner } from '#adapters/local-signer.ts';
import { createIngest } from '#core/ingest.ts';
import type { ArchiveStore } from '#core/ports.ts';
import { LIMITS } from '#core/schema.ts';
import { createArchiver } from '../lambdas/streams/archiver.ts';
import { MemoryLedgerStore } from '../test/support/memory-ledger-store.ts';
import { keyItem, streamEvent, streamRecord } from '../test/unit/stream-fixtures.ts';
import { benchEvent } from './events.ts';

const caller = { tenant: 'platform', shards: 2, roles: new Set(['writer'] as const) };
const identity = {
  principalArn: 'arn:aws:sts::111111111111:assumed-role/ci-deployer/bench',
  accountId: '111111111111',
  sourceIp: '203.0.113.10',
  userAgent: 'bench',
};

/** Counts puts on the way to a real directory archive. */
class CountingArchive implements ArchiveStore {
  puts = 0;
  constructor(private readonly inner: ArchiveStore) {}
  put(key: string, body: Uint8Array, contentType: string) {
    this.puts += 1;
    return this.inner.put(key, body, contentType);
  }
  get(key: string) {
    return this.inner.get(key);
  }
  list(prefix: string) {
    return this.inner.list(prefix);
  }
}

/**
 * Builds a real ledger of `events` 1 KB events (batches of the largest size, 2 shards, a real P-256 key),
 * replays its items through the archiver as the table's stream would deliver them (INSERTs in commit order,
 * `streamBatch` records per invocation, like the deployed event source mapping), and verifies the resulting
 * archive offline `rounds` times in a process of its own (verify-rounds.ts), as `audit-trail verify --archive
 * DIR` does: objects read from the directory, every check. Returns S3 puts per 1000 events, and verification
 * throughput: the median run (the figure), the first (cold: includes compiling the verifier) and the fastest,
 * with the CPU of one verification divided by the CPU of one bare SHA-256 of a 1 KB record per event, timed
 * in alternating rounds (a ratio that travels between machines better than events per second).
 */
export async function archiveFigures(events: number, streamBatch = 1000, rounds = 7) {
  const dir = mkdtempSync(join(tmpdir(), 'audit-bench-archive-'));
  try {
    const puts = await buildArchive(dir, events, streamBatch);
    const script = fileURLToPath(new URL('./verify-rounds.ts', import.meta.url));
    const output = execFileSync(
      process.execPath,
      ['--import', 'tsx', script, dir, String(events), String(rounds)],
      {
        encoding: 'utf8',
      },
    );
    const { leaves, verifyMicros, hashMicros } = JSON.parse(output) as {
      leaves: number;
      verifyMicros: number[];
      hashMicros: number[];
    };
    const perSecond = (micros: number) => leaves / (micros / 1e6);
    return {
      s3PutsPer1000ArchivedEvents: (puts / events) * 1000,
      verifyEventsPerSecond: perSecond(median(verifyMicros)),
      verifyEventsPerSecondCold: perSecond(verifyMicros[0]!),
      verifyEventsPerSecondBest: perSecond(Math.min(...verifyMicros)),
      verifyCpuVsSha256: median(verifyMicros.map((micros, i) => micros / hashMicros[i]!)),
      verifiedEvents: leaves,
      verifyRounds: rounds,
      verifyMillis: verifyMicros.map((micros) => Math.round(micros / 1000)),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

/**
 * Ingests the events and archives them into `dir`; returns the archive writes. Its own scope, so the
 * in-memory ledger and stream are garbage before verification starts: the verifier is timed on its own.
 */
async function buildArchive(dir: string, events: number, streamBatch: number): Promise<number> {
  const store = new MemoryLedgerStore();
  const signer = LocalSigner.generate('p256');
  const stream: DynamoDBRecord[] = [streamRecord({ item: keyItem(await signer.publicKey()) })];
  store.beforeCommit = (append, stored) => {
    stream.push(streamRecord({ item: appendToItem(append) as Record<string, SdkAttributeValue> }));
    for (const event of stored)
      stream.push(streamRecord({ item: eventToItem(event) as Record<string, SdkAttributeValue> }));
  };
  const ingest = createIngest({ store, signer, deploymentOrigin: 'audit.example.com/bench' });
  for (let sent = 0; sent < events; sent += LIMITS.maxBatchEvents) {
    const batch = Array.from({ length: Math.min(LIMITS.maxBatchEvents, events - sent) }, (_, i) =>
      benchEvent(sent + i),
    );
    await ingest({
      caller,
      identity,
      receivedAt: new Date(Date.UTC(2026, 10, 1, 12)),
      body: { events: batch },
    });
  }
  const archive = new CountingArchive(new DirectoryArchiveStore(dir));
  const archiver = createArchiver({ archive, codec: { eventFromItem, appendFromItem } });
  for (let i = 0; i < stream.length; i += streamBatch) {
    const response = await archiver(streamEvent(stream.slice(i, i + streamBatch)));
    if (response.batchItemFailures.length > 0) throw new Error('bench archiver reported failures');
  }
  return archive.puts;
}
