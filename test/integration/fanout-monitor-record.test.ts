import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DeleteItemCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MonitorSummary, RecordedViolation } from '#core/integrity-monitor.ts';
import { appendSortKey, logPartition } from '#core/ledger-layout.ts';
import { type Receipt, verifyReceipt } from '#core/receipt.ts';
import type { PublicKeyInfo } from '#core/signer.ts';
import { MONITOR_ACTOR_ID } from '#core/violation-recorder.ts';
import { DEFAULT_DEPLOYMENT_ORIGIN } from '../../local/sandbox.ts';
import { localDynamoDbClientConfig } from '../../local/services/dynamodb.ts';
import { SANDBOX_MONITOR_ROLE_ARN } from '../../local/wiring.ts';
import { auditEvent, useSandbox } from './setup/sandbox.ts';

/**
 * Integrity violations recorded in the trail, end to end: the sandbox's default tenant (`demo`, two logs)
 * gets events in both logs; log 0's head is rolled back in DynamoDB; one monitor run publishes the
 * violation and records it as an `integrity.violation` event in log 1 (never in the violated log); the
 * stream archives it, and the `integrity-alerts` report over the sandbox archive (the real CLI, DuckDB)
 * returns it, while log 1 still verifies.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const harness = useSandbox({ stream: { retryBaseDelayMs: 10, pollIntervalMs: 50 } });

let dynamodb: DynamoDBClient;
beforeAll(() => {
  dynamodb = new DynamoDBClient(
    localDynamoDbClientConfig(harness.sandbox.dynamodb.endpoint, harness.sandbox.region),
  );
});
afterAll(() => dynamodb.destroy());

const runMonitor = () => harness.sandbox.app.runMonitor!();
const originOf = (shard: number) => `${DEFAULT_DEPLOYMENT_ORIGIN}/demo/${shard}`;

// biome-ignore lint/suspicious/noExplicitAny: the CLI's --json output, checked by the assertions themselves
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

/** One event per request, so each receipt's leaf index is its append's start. */
async function postOne(): Promise<Receipt> {
  const response = await harness.call('writer', { path: '/v1/events', body: { events: [auditEvent()] } });
  expect(response.status).toBe(201);
  return response.json<{ receipts: Receipt[] }>().receipts[0]!;
}

describe('fan-out: integrity violations recorded in the trail and reported', () => {
  const from = new Date(Date.now() - 60_000).toISOString();
  const receipts: Receipt[] = [];
  let tampered: MonitorSummary;
  let recorded: RecordedViolation;
  let rolledBackTo: number;

  beforeAll(async () => {
    // Requests land on a random log: post until log 0 has two appends to roll back from and log 1 one.
    const count = (shard: number) => receipts.filter((receipt) => receipt.origin === originOf(shard)).length;
    for (let i = 0; i < 200 && (count(0) < 2 || count(1) < 1); i++) receipts.push(await postOne());
    expect(count(0)).toBeGreaterThanOrEqual(2);
    expect(count(1)).toBeGreaterThanOrEqual(1);
    await harness.sandbox.waitForIdle({ timeoutMs: 20_000 });
  }, 120_000);

  it('passes the untouched trail and records nothing', async () => {
    const summary = await runMonitor();
    expect(summary.errors).toEqual([]);
    expect(summary.violations).toEqual([]);
    expect(summary.recording).toEqual({ recorded: [], failed: [] });
  });

  it('rolls back log 0, publishes the violation and records it in log 1', async () => {
    const last = receipts.filter((receipt) => receipt.origin === originOf(0)).at(-1)!;
    rolledBackTo = last.leafIndex;
    await dynamodb.send(
      new DeleteItemCommand({
        TableName: harness.sandbox.dynamodb.table,
        Key: {
          pk: { S: logPartition(originOf(0)) },
          sk: { S: appendSortKey(last.leafIndex) },
        },
      }),
    );
    tampered = await runMonitor();
    expect(tampered.violations).toEqual([
      expect.objectContaining({ origin: originOf(0), check: 'truncated', leafIndex: rolledBackTo }),
    ]);
    expect(
      (harness.sandbox.app.alerts ?? [])
        .filter((alert) => alert.rule === 'integrity-violation')
        .map((alert) => alert.event.detail),
    ).toContainEqual(expect.objectContaining({ origin: originOf(0), check: 'truncated' }));
    expect(tampered.recording?.failed).toEqual([]);
    expect(tampered.recording?.recorded).toEqual([
      expect.objectContaining({
        origin: originOf(0),
        check: 'truncated',
        tenant: 'demo',
        recordedIn: originOf(1),
        status: 'recorded',
      }),
    ]);
    recorded = tampered.recording!.recorded[0]!;
    await harness.sandbox.waitForIdle({ timeoutMs: 20_000 });
  });

  it('a re-run of the same finding records nothing new', async () => {
    const again = await runMonitor();
    expect(again.violations.map((violation) => violation.check)).toEqual(['truncated']);
    expect(again.recording?.recorded).toEqual([{ ...recorded, status: 'already-recorded' }]);
    // Log 1, which holds the event, verifies clean (the monitor re-verifies its newest append).
    expect(again.logs.find((log) => log.origin === originOf(1))).toMatchObject({
      status: 'ok',
      tableSize: recorded.recordedLeafIndex + 1,
    });
  });

  it('integrity-alerts over the sandbox archive returns the violation row', { timeout: 60_000 }, async () => {
    const to = new Date(Date.now() + 3_600_000).toISOString();
    const { code, json, stderr } = await cli('report', 'integrity-alerts', '--from', from, '--to', to);
    expect(code, stderr).toBe(0);
    const rows = json.report.rows as Record<string, unknown>[];
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      tenant: 'demo',
      outcome: 'failure',
      resource_type: 'audit-log',
      resource_id: originOf(0),
      summary: tampered.violations[0]!.message,
      actor_id: MONITOR_ACTOR_ID,
      event_id: recorded.eventId,
      origin: originOf(1),
    });
    expect(Number(rows[0]!.leaf_index)).toBe(recorded.recordedLeafIndex);
  });

  it('the recorded event has a receipt that verifies offline, with the monitor as its caller', async () => {
    const response = await harness.call('auditor', { path: `/v1/events/${recorded.eventId}` });
    expect(response.status).toBe(200);
    const { event, receipt } = response.json<{ event: Record<string, unknown>; receipt: Receipt }>();
    expect(event).toMatchObject({
      action: 'integrity.violation',
      category: 'system',
      caller: { principalArn: SANDBOX_MONITOR_ROLE_ARN, sourceIp: 'monitor' },
    });
    const keys = (await harness.call('auditor', { path: '/v1/public-keys' })).json<{
      keys: PublicKeyInfo[];
    }>().keys;
    expect(verifyReceipt(event, receipt, new Map(keys.map((key) => [key.keyId, key])))).toEqual({ ok: true });
    expect(receipt.origin).toBe(originOf(1));
  });

  it('the archive, log 1 with the recorded event included, still verifies', { timeout: 60_000 }, async () => {
    const { code, json, stderr } = await cli('verify', '--archive', '--tenant', 'demo');
    expect(code, stderr).toBe(0);
    expect(json.ok).toBe(true);
    expect(json.logs).toContainEqual(
      expect.objectContaining({ origin: originOf(1), size: recorded.recordedLeafIndex + 1 }),
    );
  });
});
