import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Receipt } from '#core/receipt.ts';
import { AuditClient } from '../../cli/client.ts';
import { sandboxPrincipal } from '../../local/credentials.ts';
import { auditEvent, useSandbox } from './setup/sandbox.ts';

/**
 * Concurrency on one log head: many writers racing on a tenant with a single shard must still produce one
 * unforked log, and retries of one event id must store it once. Writers are AuditClient instances (the
 * engine of `audit-trail send`); the check is the real `audit-trail verify`, spawned.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const harness = useSandbox({
  tenants: {
    tenants: [
      {
        name: 'solo',
        shards: 1,
        writers: [sandboxPrincipal('writer').roleArn],
        readers: [sandboxPrincipal('reader').roleArn],
        auditors: [sandboxPrincipal('auditor').roleArn],
      },
    ],
  },
});
let work = '';

function writer(): AuditClient {
  const { endpoint, region, credentials } = harness.sandbox;
  // Generous retries: under this much contention a batch may lose the head race many times before it wins.
  return new AuditClient({
    endpoint,
    region,
    credentials: credentials.writer,
    retry: { maxAttempts: 30, maxDelayMs: 2000 },
  });
}

interface Report {
  ok: boolean;
  failure?: unknown;
  totals: { logs: number; leaves: number; appends: number };
  eventsListed: number;
}

function verify(...extra: string[]): Promise<{ code: number; report: Report; stderr: string }> {
  const sandboxFile = join(harness.sandbox.dataDir, 'sandbox.json');
  return new Promise((resolve) => {
    execFile(
      'npx',
      ['tsx', 'cli/main.ts', 'verify', ...extra, '--sandbox-file', sandboxFile, '--json'],
      { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code ?? 1) : 0, report: JSON.parse(stdout || '{}'), stderr }),
    );
  });
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'cli-concurrency-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('concurrent writers against one log head', () => {
  it('stores an event once and returns identical receipts to 1,000 parallel retries of its id', async () => {
    const event = auditEvent();
    const client = writer();
    const results = await Promise.all(Array.from({ length: 1000 }, () => client.postEvents([event])));
    const receipts = results.map((result) => result.receipts[0]);
    expect(new Set(receipts.map((receipt) => JSON.stringify(receipt))).size).toBe(1);
    expect(results.filter((result) => result.status === 201)).toHaveLength(1);
    const { code, report } = await verify();
    expect(code).toBe(0);
    expect(report.totals.leaves).toBe(1);
    expect(report.eventsListed).toBe(1);
  }, 300_000);

  it('keeps one unforked log when 20 writers send 500 events each at once', async () => {
    const before = (await verify()).report.totals.leaves;
    const batches = Array.from({ length: 20 }, (_, w) =>
      Array.from({ length: 500 }, (_, i) =>
        auditEvent({ actor: { type: 'service', id: `writer-${w}` }, metadata: { i } }),
      ),
    );
    const receipts: Receipt[][] = await Promise.all(batches.map((events) => writer().send(events)));
    const all = receipts.flat();
    expect(all).toHaveLength(10_000);
    expect(new Set(all.map((receipt) => receipt.origin)).size).toBe(1);
    // Every leaf index is taken exactly once: no two appends claimed the same position.
    const indices = all.map((receipt) => receipt.leafIndex).sort((a, b) => a - b);
    expect(indices).toEqual(Array.from({ length: 10_000 }, (_, i) => before + i));
    // Each receipt's checkpoint must lie on the one verified chain, and each receipt must match its leaf.
    writeFileSync(join(work, 'receipts.jsonl'), all.map((receipt) => JSON.stringify(receipt)).join('\n'));
    const { code, report, stderr } = await verify('--checkpoints', join(work, 'receipts.jsonl'));
    expect(report.failure, stderr).toBeUndefined();
    expect(code).toBe(0);
    expect(report.totals).toMatchObject({ logs: 1, leaves: before + 10_000 });
    expect(report.eventsListed).toBe(before + 10_000);
  }, 600_000);
});
