import { DeleteItemCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendSortKey, eventKey, logPartition } from '#core/ledger-layout.ts';
import type { Receipt } from '#core/receipt.ts';
import { sandboxPrincipal } from '../../local/credentials.ts';
import { localDynamoDbClientConfig } from '../../local/services/dynamodb.ts';
import { auditEvent, useSandbox } from './setup/sandbox.ts';

/** One shard, so every request lands in the same log and the test knows which head it rolls back. */
const harness = useSandbox({
  stream: { retryBaseDelayMs: 10, pollIntervalMs: 50 },
  tenants: {
    tenants: [
      {
        name: 'demo',
        shards: 1,
        writers: [sandboxPrincipal('writer').roleArn],
        readers: [sandboxPrincipal('reader').roleArn],
        auditors: [sandboxPrincipal('auditor').roleArn],
      },
    ],
  },
});

let dynamodb: DynamoDBClient;
beforeAll(() => {
  dynamodb = new DynamoDBClient(
    localDynamoDbClientConfig(harness.sandbox.dynamodb.endpoint, harness.sandbox.region),
  );
});
afterAll(() => dynamodb.destroy());

async function post(count: number): Promise<Receipt[]> {
  const events = Array.from({ length: count }, () => auditEvent({ reason: 'CHG-1' }));
  const response = await harness.call('writer', { path: '/v1/events', body: { events } });
  expect(response.status).toBe(201);
  return response.json<{ receipts: Receipt[] }>().receipts;
}

const runMonitor = () => harness.sandbox.app.runMonitor!();
const table = () => harness.sandbox.dynamodb.table;
const deleteItem = (pk: string, sk: string) =>
  dynamodb.send(new DeleteItemCommand({ TableName: table(), Key: { pk: { S: pk }, sk: { S: sk } } }));
const integrityAlerts = () =>
  (harness.sandbox.app.alerts ?? []).filter((alert) => alert.rule === 'integrity-violation');

describe('fan-out: integrity monitor against the sandbox', () => {
  let receipts: Receipt[] = [];

  beforeAll(async () => {
    receipts = [...(await post(3)), ...(await post(2)), ...(await post(2))];
    await harness.sandbox.waitForIdle({ timeoutMs: 10_000 });
  });

  it('passes the untouched ledger and archive', async () => {
    const summary = await runMonitor();
    expect(summary.errors).toEqual([]);
    expect(summary.violations).toEqual([]);
    expect(summary.logs.find((log) => log.origin === receipts[0]!.origin)).toMatchObject({
      tableSize: 7,
      archivedSize: 7,
    });
    expect(integrityAlerts()).toEqual([]);
  });

  it('raises an Integrity Violation when the table\u2019s last records are deleted', async () => {
    const last = receipts.at(-1)!;
    const key = eventKey(harness.sandbox.tenant, last.eventId);
    await deleteItem(key.pk, key.sk);
    const summary = await runMonitor();
    expect(summary.violations).toContainEqual(
      expect.objectContaining({
        origin: last.origin,
        check: 'missing-leaf',
        leafIndex: last.leafIndex,
        eventId: last.eventId,
      }),
    );
    expect(integrityAlerts().map((alert) => alert.event.detail)).toContainEqual(
      expect.objectContaining({ check: 'missing-leaf', leafIndex: last.leafIndex }),
    );
  });

  it('raises an Integrity Violation when the log head is rolled back', async () => {
    const origin = receipts[0]!.origin;
    await deleteItem(logPartition(origin), appendSortKey(5));
    const summary = await runMonitor();
    expect(summary.violations).toContainEqual(
      expect.objectContaining({ origin, check: 'truncated', leafIndex: 5 }),
    );
    expect(integrityAlerts().map((alert) => alert.event.detail)).toContainEqual(
      expect.objectContaining({ origin, check: 'truncated' }),
    );
  });
});
