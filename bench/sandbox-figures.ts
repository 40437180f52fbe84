import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { S3ArchiveStore } from '#adapters/s3-archive.ts';
import { ARCHIVE_PREFIXES } from '#core/archive-layout.ts';
import { parseEventsObject } from '#core/archiving.ts';
import { LIMITS } from '#core/schema.ts';
import { AuditClient } from '../cli/client.ts';
import { startSandbox } from '../local/sandbox.ts';
import { localS3ClientConfig } from '../local/services/s3.ts';
import { benchEvent } from './events.ts';

/**
 * End to end through the sandbox: `writers` concurrent clients send `events` events in batches of the
 * largest size (SigV4-signed HTTP -> handler -> DynamoDB Local -> stream -> archiver -> S3 server), then
 * the archive is read back and every event id is looked for. Throughput counts until the archive holds
 * everything; `lost` is the events acknowledged with a receipt but absent from the archive (must be 0).
 */
export async function sandboxFigures(events = 5000, writers = 4) {
  const dataDir = mkdtempSync(join(tmpdir(), 'audit-bench-sandbox-'));
  const sandbox = await startSandbox({ port: 0, dataDir, log: () => {} });
  try {
    const client = new AuditClient({
      endpoint: sandbox.endpoint,
      region: sandbox.region,
      credentials: sandbox.credentials.writer,
    });
    const all = Array.from({ length: events }, (_, i) => benchEvent(5_000_000 + i));
    const perWriter = Math.ceil(events / writers);
    const started = process.hrtime.bigint();
    const receipts = (
      await Promise.all(
        Array.from({ length: writers }, (_, w) => client.send(all.slice(w * perWriter, (w + 1) * perWriter))),
      )
    ).flat();
    const sentSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    await sandbox.waitForIdle({ timeoutMs: 300_000 });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const archived = await archivedEventIds(sandbox.s3.endpoint, sandbox.s3.bucket, sandbox.region);
    const lost = receipts.filter((receipt) => !archived.has(receipt.eventId)).length;
    return {
      sandboxEventsPerSecond: events / seconds,
      sandboxIngestEventsPerSecond: events / sentSeconds,
      sandboxEventsSent: events,
      sandboxEventsLost: lost,
      batchSize: LIMITS.maxBatchEvents,
    };
  } finally {
    await sandbox.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function archivedEventIds(endpoint: string, bucket: string, region: string): Promise<Set<string>> {
  const archive = new S3ArchiveStore(new S3Client(localS3ClientConfig(endpoint, region)), bucket);
  const ids = new Set<string>();
  for await (const key of archive.list(ARCHIVE_PREFIXES.events)) {
    const body = await archive.get(key);
    for (const line of body ? parseEventsObject(body) : []) ids.add(String(line.record.id));
  }
  return ids;
}
