import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { AuditClient } from '../../cli/client.ts';
import { auditEvent, useSandbox } from './setup/sandbox.ts';

/**
 * Reports and archive verification end to end: a known data set goes through the sandbox's API, ledger,
 * stream and archiver into its S3 archive; every catalogue query then runs through the real CLI
 * (`report … --sandbox --json`, DuckDB over the archive) with exact counts, and `verify-archive` passes.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const harness = useSandbox();
const run = randomUUID().slice(0, 8);
const who = (name: string) => `${name}-${run}`;
let period: { from: string; to: string };

const events = [
  {
    action: 'deployment.apply',
    category: 'deployment',
    actor: who('alice'),
    reason: 'CHG-1',
    resource: `stack-${run}`,
  },
  { action: 'configuration.update', category: 'configuration', actor: who('bob') },
  { action: 'iam.role.update', category: 'policy', actor: who('alice'), reason: 'CHG-2' },
  { action: 'access.login', category: 'access', outcome: 'denied', actor: who('carol') },
  {
    action: 's3.bucket.delete',
    category: 'provisioning',
    actor: who('dave'),
    environment: 'production',
    reason: 'CHG-3',
  },
  {
    action: 'integrity.violation',
    category: 'system',
    outcome: 'failure',
    actor: who('monitor'),
    resource: 'sandbox/demo/0',
  },
  { action: 'access.assume-role', category: 'access', outcome: 'failure', actor: who('bob') },
  { action: 's3.object.delete', category: 'data', actor: who('frank'), environment: 'Prod' },
].map((spec) =>
  auditEvent({
    action: spec.action,
    category: spec.category,
    outcome: spec.outcome ?? 'success',
    actor: { type: 'user', id: spec.actor },
    resources: [{ type: 'test-resource', id: spec.resource ?? `res-${randomUUID()}` }],
    source: { system: `it-${run}`, environment: spec.environment ?? 'prod' },
    ...(spec.reason ? { reason: spec.reason } : {}),
  }),
);

// biome-ignore lint/suspicious/noExplicitAny: the CLI's JSON output is checked field by field below
function cli(...args: string[]): Promise<{ code: number; json: any; stderr: string }> {
  const sandboxFile = join(harness.sandbox.dataDir, 'sandbox.json');
  return new Promise((resolve) => {
    execFile(
      'npx',
      ['tsx', 'cli/main.ts', ...args, '--sandbox-file', sandboxFile, '--json'],
      { cwd: ROOT, maxBuffer: 64 << 20 },
      (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code ?? 1) : 0, json: JSON.parse(stdout || '{}'), stderr }),
    );
  });
}

const report = async (name: string, ...params: string[]) => {
  const { code, json, stderr } = await cli(
    'report',
    name,
    '--from',
    period.from,
    '--to',
    period.to,
    ...params.flatMap((p) => ['--param', p]),
  );
  expect(code, stderr).toBe(0);
  // Only this run's events: the source system is unique to it.
  return (json.report.rows as Record<string, unknown>[]).filter(
    (row) => !('source_system' in row) || row.source_system === `it-${run}`,
  );
};

beforeAll(async () => {
  const from = new Date(Date.now() - 60_000).toISOString();
  const { endpoint, region, credentials } = harness.sandbox;
  const writer = new AuditClient({ endpoint, region, credentials: credentials.writer });
  for (const batch of [events.slice(0, 3), events.slice(3, 6), events.slice(6)])
    await writer.postEvents(batch);
  await harness.sandbox.waitForIdle({ timeoutMs: 20_000 });
  period = { from, to: new Date(Date.now() + 3_600_000).toISOString() };
}, 120_000);

describe('reports over the sandbox archive, through the CLI', () => {
  it.each([
    ['resource-changes', [`resource=stack-${run}`], 1],
    ['actor-activity', [`actor=${who('alice')}`], 2],
    ['denied-access', [], 2],
    ['privileged-changes', [], 2],
    ['production-deletions', [], 2],
    ['changes-without-reason', [], 1],
    ['changes-outside-window', ['weekdays=1,2,3,4,5,6,7', 'startHour=5', 'endHour=5'], 4],
    ['changes-outside-window', ['weekdays=1,2,3,4,5,6,7', 'startHour=0', 'endHour=24'], 0],
    ['integrity-alerts', [], 1],
  ] as const)('%s %j returns exactly %i rows', { timeout: 60_000 }, async (name, params, expected) => {
    expect(await report(name, ...params)).toHaveLength(expected);
  });

  it('first-seen-actors finds every actor of the run', { timeout: 60_000 }, async () => {
    const rows = (await report('first-seen-actors')).filter((row) => String(row.actor_id).endsWith(run));
    expect(rows.map((row) => row.actor_id).sort()).toEqual(
      ['alice', 'bob', 'carol', 'dave', 'frank', 'monitor'].map(who),
    );
  });

  it('daily-summary counts every event of the run once', { timeout: 60_000 }, async () => {
    const rows = await report('daily-summary');
    expect(rows.reduce((sum, row) => sum + Number(row.events), 0)).toBe(8);
    expect(new Set(rows.map((row) => row.category))).toEqual(
      new Set(['deployment', 'configuration', 'policy', 'access', 'provisioning', 'system', 'data']),
    );
  });

  it('verify-archive passes over the sandbox archive', { timeout: 60_000 }, async () => {
    const { code, json, stderr } = await cli('verify-archive');
    expect(code, stderr).toBe(0);
    expect(json).toMatchObject({ ok: true, source: 'archive' });
    expect(json.totals.leaves).toBeGreaterThanOrEqual(8);
  });
});
