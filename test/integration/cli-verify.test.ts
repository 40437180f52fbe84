import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type AttributeValue,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendSortKey, eventKey, logPartition } from '#core/ledger-layout.ts';
import type { Receipt } from '#core/receipt.ts';
import { localDynamoDbClientConfig } from '../../local/services/dynamodb.ts';
import { auditEvent, useSandbox } from './setup/sandbox.ts';

/**
 * `audit-trail send` then `audit-trail verify`, spawned as a user would run them, against the sandbox; then
 * the trail is tampered with directly in DynamoDB Local, as someone with table access could, and `verify`
 * must name the tampered leaf. Each tamper is undone afterwards and `verify` must pass again, so every
 * failure is shown to come from the tamper.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const harness = useSandbox();
let work = '';
let dynamo: DynamoDBClient;
const receipts: Receipt[] = [];

type Item = Record<string, AttributeValue>;

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[]): Promise<CliResult> {
  const sandboxFile = join(harness.sandbox.dataDir, 'sandbox.json');
  return new Promise((resolve) => {
    execFile(
      'npx',
      ['tsx', 'cli/main.ts', ...args, '--sandbox-file', sandboxFile, '--json'],
      { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

interface Report {
  ok: boolean;
  failure?: { check: string; origin: string; leafIndex?: number; eventId?: string; message: string };
  totals: { logs: number; leaves: number; appends: number; signatures: number };
  eventsListed: number;
}

async function verify(...extra: string[]): Promise<{ code: number; report: Report }> {
  const result = await cli(['verify', ...extra]);
  if (result.stdout === '') throw new Error(`verify printed nothing (exit ${result.code}): ${result.stderr}`);
  return { code: result.code, report: JSON.parse(result.stdout) as Report };
}

const table = () => harness.sandbox.dynamodb.table;
const tenant = () => harness.sandbox.tenant;

async function getItem(key: { pk: string; sk: string }): Promise<Item> {
  const { Item } = await dynamo.send(
    new GetItemCommand({ TableName: table(), Key: { pk: { S: key.pk }, sk: { S: key.sk } } }),
  );
  if (!Item) throw new Error(`no item ${key.pk} ${key.sk}`);
  return Item;
}

const putItem = (item: Item) => dynamo.send(new PutItemCommand({ TableName: table(), Item: item }));

/** Applies a tamper, runs `fn`, then puts every touched item back as it was. */
async function tampered(
  items: Item[],
  change: () => Promise<unknown>,
  fn: () => Promise<void>,
): Promise<void> {
  await change();
  try {
    await fn();
  } finally {
    for (const item of items) await putItem(item);
  }
}

/** The receipts of one log, in leaf order; the log with the most events, so appends have neighbours. */
function busiestLog(): Receipt[] {
  const byOrigin = new Map<string, Receipt[]>();
  for (const receipt of receipts)
    byOrigin.set(receipt.origin, [...(byOrigin.get(receipt.origin) ?? []), receipt]);
  return [...byOrigin.values()]
    .sort((a, b) => b.length - a.length)[0]!
    .sort((a, b) => a.leafIndex - b.leafIndex);
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'cli-verify-'));
  dynamo = new DynamoDBClient(
    localDynamoDbClientConfig(harness.sandbox.dynamodb.endpoint, harness.sandbox.region),
  );
  // Several sends, so each log has several appends (a send of up to 98 events is one append).
  for (let batch = 0; batch < 6; batch++) {
    const events = Array.from({ length: 5 }, (_, i) =>
      auditEvent({ actor: { type: 'user', id: `user-${batch}-${i}` } }),
    );
    writeFileSync(
      join(work, `events-${batch}.jsonl`),
      events.map((event) => JSON.stringify(event)).join('\n'),
    );
    const sent = await cli([
      'send',
      join(work, `events-${batch}.jsonl`),
      '--receipts-out',
      join(work, `receipts-${batch}.jsonl`),
    ]);
    if (sent.code !== 0) throw new Error(`send failed (${sent.code}): ${sent.stderr}`);
    receipts.push(
      ...sent.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Receipt),
    );
  }
  writeFileSync(join(work, 'receipts.jsonl'), receipts.map((receipt) => JSON.stringify(receipt)).join('\n'));
}, 180_000);

afterAll(() => {
  dynamo?.destroy();
  if (work) rmSync(work, { recursive: true, force: true });
});

// Each test spawns the CLI up to three times; on a busy machine one spawn can take several seconds.
describe('audit-trail send + verify against the sandbox', { timeout: 180_000 }, () => {
  it('sends a file of events, then verify exits 0 with every event on a verified leaf', async () => {
    expect(receipts).toHaveLength(30);
    expect(readFileSync(join(work, 'receipts-0.jsonl'), 'utf8').trim().split('\n')).toHaveLength(5);
    const { code, report } = await verify('--checkpoints', join(work, 'receipts.jsonl'));
    expect(report.failure).toBeUndefined();
    expect(code).toBe(0);
    expect(report).toMatchObject({ ok: true, totals: { leaves: 30, appends: 6 }, eventsListed: 30 });
  });

  it('fails with exit 1 naming leaf and event when one byte of a stored record changes', async () => {
    const target = busiestLog()[3]!;
    const original = await getItem(eventKey(tenant(), target.eventId));
    const record = original.record!.S!;
    // One byte: s -> S, still valid JSON, so only the hash can tell.
    const changed = record.replace('"outcome":"success"', '"outcome":"succesS"');
    expect(changed).not.toBe(record);
    await tampered(
      [original],
      () => putItem({ ...original, record: { S: changed } }),
      async () => {
        const { code, report } = await verify();
        expect(code).toBe(1);
        expect(report.failure).toMatchObject({
          check: 'leaf-hash',
          origin: target.origin,
          leafIndex: target.leafIndex,
          eventId: target.eventId,
        });
      },
    );
    expect((await verify()).code).toBe(0);
  });

  it('fails with exit 1 naming leaf and event when a record is deleted', async () => {
    const target = busiestLog()[1]!;
    const original = await getItem(eventKey(tenant(), target.eventId));
    await tampered(
      [original],
      () =>
        dynamo.send(
          new DeleteItemCommand({ TableName: table(), Key: { pk: original.pk!, sk: original.sk! } }),
        ),
      async () => {
        const { code, report } = await verify();
        expect(code).toBe(1);
        expect(report.failure).toMatchObject({
          check: 'missing-leaf',
          origin: target.origin,
          leafIndex: target.leafIndex,
          eventId: target.eventId,
        });
      },
    );
    expect((await verify()).code).toBe(0);
  });

  it('fails with exit 1 naming the first leaf when two records swap contents', async () => {
    const log = busiestLog();
    const [first, second] = [log[2]!, log[log.length - 1]!];
    const a = await getItem(eventKey(tenant(), first.eventId));
    const b = await getItem(eventKey(tenant(), second.eventId));
    await tampered(
      [a, b],
      async () => {
        await putItem({ ...a, record: b.record! });
        await putItem({ ...b, record: a.record! });
      },
      async () => {
        const { code, report } = await verify();
        expect(code).toBe(1);
        expect(report.failure).toMatchObject({
          check: 'event-id',
          origin: first.origin,
          leafIndex: first.leafIndex,
          eventId: first.eventId,
        });
      },
    );
    expect((await verify()).code).toBe(0);
  });

  it('fails with exit 1 when the head is rolled back, naming a lost leaf without a witness and the first lost leaf with one', async () => {
    const log = busiestLog();
    const origin = log[0]!.origin;
    const { Items = [] } = await dynamo.send(
      new QueryCommand({
        TableName: table(),
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': { S: logPartition(origin) } },
        ScanIndexForward: false,
        Limit: 1,
      }),
    );
    const newest = Items[0]!;
    const start = Number(newest.start!.N);
    expect(newest.sk!.S).toBe(appendSortKey(start));
    const lost = log.filter((receipt) => receipt.leafIndex >= start);
    await tampered(
      [newest],
      () =>
        dynamo.send(new DeleteItemCommand({ TableName: table(), Key: { pk: newest.pk!, sk: newest.sk! } })),
      async () => {
        const blind = await verify();
        expect(blind.code).toBe(1);
        expect(blind.report.failure?.check).toBe('orphan');
        // The server's integrity error says where the orphan claims to be: the lost leaf is named.
        const orphan = lost.find((receipt) => receipt.eventId === blind.report.failure?.eventId);
        expect(orphan).toBeDefined();
        expect(blind.report.failure).toMatchObject({ origin, leafIndex: orphan!.leafIndex });

        const witnessed = await verify('--checkpoints', join(work, 'receipts.jsonl'));
        expect(witnessed.code).toBe(1);
        expect(witnessed.report.failure).toMatchObject({
          check: 'truncated',
          origin,
          leafIndex: start,
          eventId: lost[0]!.eventId,
        });
      },
    );
    expect((await verify()).code).toBe(0);
  });

  it('verifies a receipt offline from the GET /v1/events/{id} answer and the public key', async () => {
    const target = receipts[0]!;
    const read = await harness.call('reader', { path: `/v1/events/${target.eventId}` });
    const keys = await harness.call('auditor', { path: '/v1/public-keys' });
    writeFileSync(join(work, 'answer.json'), JSON.stringify(read.json()));
    const pem = keys
      .json<{ keys: { keyId: string; publicKeyPem: string }[] }>()
      .keys.find((key) => key.keyId === target.checkpoint.keyId)!;
    writeFileSync(join(work, 'key.pem'), pem.publicKeyPem);
    const result = await cli([
      'verify-receipt',
      '--event',
      join(work, 'answer.json'),
      '--public-key',
      join(work, 'key.pem'),
    ]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      ok: true,
      eventId: target.eventId,
      leafIndex: target.leafIndex,
    });
  });
});
