import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import {
  type AttributeValue,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3ArchiveStore } from '#adapters/s3-archive.ts';
import { gzipDeterministic } from '#core/archiving.ts';
import { canonicalize } from '#core/canonical.ts';
import { appendSortKey, eventKey, logPartition } from '#core/ledger-layout.ts';
import type { Receipt } from '#core/receipt.ts';
import type { Io } from '../../cli/io.ts';
import { run as runCli } from '../../cli/main.ts';
import { localDynamoDbClientConfig } from '../../local/services/dynamodb.ts';
import { localS3ClientConfig } from '../../local/services/s3.ts';
import { auditEvent, useSandbox } from '../integration/setup/sandbox.ts';
import { printCounts } from '../support/reliability-kit.ts';

/**
 * The integration-style check of the reliability suite, against the real sandbox (DynamoDB Local with its
 * stream, the S3-compatible server, the archiver fed by the stream poller): the trail is tampered with
 * where an insider would (an item in DynamoDB Local, an object in the archive bucket, the table's tail),
 * and the shipped tools must name it: `verify` (API), `verify-archive` (archive), and the integrity monitor
 * (table against archive). Every tamper is undone and the tools must pass again, so each failure is shown
 * to come from the tamper.
 */

const harness = useSandbox({ stream: { retryBaseDelayMs: 10, pollIntervalMs: 50 } });
let dynamo: DynamoDBClient;
let s3: S3Client;
let archive: S3ArchiveStore;
const receipts: Receipt[] = [];
type Item = Record<string, AttributeValue>;

beforeAll(async () => {
  dynamo = new DynamoDBClient(
    localDynamoDbClientConfig(harness.sandbox.dynamodb.endpoint, harness.sandbox.region),
  );
  s3 = new S3Client(localS3ClientConfig(harness.sandbox.s3.endpoint, harness.sandbox.region));
  archive = new S3ArchiveStore(s3, harness.sandbox.s3.bucket);
  for (let batch = 0; batch < 6; batch++) {
    const events = Array.from({ length: 3 + batch }, (_, i) =>
      auditEvent({
        reason: `batch ${batch} event ${i}${batch === 2 ? ' \u001b[31mred\u001b[0m\r\nforged line' : ''}`,
      }),
    );
    const response = await harness.call('writer', { path: '/v1/events', body: { events } });
    expect(response.status).toBe(201);
    receipts.push(...response.json<{ receipts: Receipt[] }>().receipts);
  }
  await harness.sandbox.waitForIdle();
});

afterAll(() => {
  dynamo?.destroy();
  s3?.destroy();
});

function memoryIo(): Io & { out: () => string } {
  let out = '';
  return {
    stdout: { write: (chunk: string) => (out += chunk) },
    stderr: { write: () => true },
    stdin: (async function* () {})(),
    env: {},
    cwd: process.cwd(),
    out: () => out,
  };
}

interface Report {
  ok: boolean;
  failure?: { check: string; origin: string; leafIndex?: number; eventId?: string; message: string };
  totals: { leaves: number };
}

/** The CLI, in process, against the sandbox described by its sandbox.json. */
async function cli(...args: string[]): Promise<{ code: number; report: Report; text: string }> {
  const file = join(harness.sandbox.dataDir, 'sandbox.json');
  const json = memoryIo();
  const code = await runCli([...args, '--sandbox-file', file, '--json'], json);
  const text = memoryIo();
  await runCli([...args, '--sandbox-file', file], text);
  return { code, report: JSON.parse(json.out()) as Report, text: text.out() };
}

const table = () => harness.sandbox.dynamodb.table;
const getItem = async (key: { pk: string; sk: string }) =>
  (
    await dynamo.send(
      new GetItemCommand({ TableName: table(), Key: { pk: { S: key.pk }, sk: { S: key.sk } } }),
    )
  ).Item!;
const putItem = (item: Item) => dynamo.send(new PutItemCommand({ TableName: table(), Item: item }));

// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point.
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

describe('tampering with the running sandbox', () => {
  it('verifies the untouched trail from the API and from the archive, escaping hostile text in the output', async () => {
    const api = await cli('verify');
    const fromArchive = await cli('verify-archive');
    printCounts('sandbox-tamper pristine', {
      events: receipts.length,
      apiLeaves: api.report.totals.leaves,
      archiveLeaves: fromArchive.report.totals.leaves,
    });
    expect(api.code).toBe(0);
    expect(api.report.totals.leaves).toBe(receipts.length);
    expect(fromArchive.code).toBe(0);
    expect(fromArchive.report.totals.leaves).toBe(receipts.length);
    expect(RAW_CONTROL.test(api.text + fromArchive.text)).toBe(false);
  });

  it('fails verify on a record byte changed in DynamoDB Local, naming its leaf and event; passes once restored', async () => {
    const target = receipts[7]!;
    const key = eventKey(harness.sandbox.tenant, target.eventId);
    const original = await getItem(key);
    const record = original.record!.S!;
    const at = record.indexOf('batch ') + 6;
    await putItem({ ...original, record: { S: `${record.slice(0, at)}9${record.slice(at + 1)}` } });
    let result: Awaited<ReturnType<typeof cli>>;
    try {
      result = await cli('verify');
    } finally {
      await putItem(original);
    }
    printCounts('sandbox-tamper table', {
      detected: result.code === 1,
      check: result.report.failure?.check ?? 'none',
      leaf: result.report.failure?.leafIndex ?? -1,
    });
    expect(result.code).toBe(1);
    expect(result.report.failure).toMatchObject({
      check: 'leaf-hash',
      origin: target.origin,
      leafIndex: target.leafIndex,
      eventId: target.eventId,
    });
    expect((await cli('verify')).code).toBe(0);
  });

  it('fails verify-archive on a record changed in an archived object in the S3 server, naming its leaf; passes once restored', async () => {
    const target = receipts.at(-2)!;
    let changed: string | undefined;
    let original: Uint8Array | undefined;
    for await (const key of archive.list('events/')) {
      const body = (await archive.get(key))!;
      const lines = gunzipSync(body).toString('utf8').split('\n').filter(Boolean);
      const index = lines.findIndex((line) => JSON.parse(line).record.id === target.eventId);
      if (index < 0) continue;
      const line = JSON.parse(lines[index]!);
      line.record.reason = `${line.record.reason} (edited)`;
      lines[index] = canonicalize(line);
      original = body;
      changed = key;
      await archive.put(
        key,
        gzipDeterministic(new TextEncoder().encode(lines.map((l) => `${l}\n`).join(''))),
        'application/gzip',
      );
      break;
    }
    expect(changed).toBeDefined();
    let result: Awaited<ReturnType<typeof cli>>;
    try {
      result = await cli('verify-archive');
    } finally {
      await archive.put(changed!, original!, 'application/gzip');
    }
    printCounts('sandbox-tamper archive', {
      detected: result.code === 1,
      check: result.report.failure?.check ?? 'none',
      leaf: result.report.failure?.leafIndex ?? -1,
    });
    expect(result.code).toBe(1);
    expect(result.report.failure).toMatchObject({
      check: 'leaf-hash',
      origin: target.origin,
      leafIndex: target.leafIndex,
      eventId: target.eventId,
    });
    expect(RAW_CONTROL.test(result.text)).toBe(false);
    expect((await cli('verify-archive')).code).toBe(0);
  });

  it('fails the integrity monitor on a table whose last append was deleted, against the archived checkpoint', async () => {
    const last = receipts.at(-1)!;
    const size = Number(last.checkpoint.body.split('\n')[1]);
    const start = Math.min(
      ...receipts.filter((r) => r.checkpoint.body === last.checkpoint.body).map((r) => r.leafIndex),
    );
    const appendKey = { pk: logPartition(last.origin), sk: appendSortKey(start) };
    const append = await getItem(appendKey);
    await dynamo.send(
      new DeleteItemCommand({
        TableName: table(),
        Key: { pk: { S: appendKey.pk }, sk: { S: appendKey.sk } },
      }),
    );
    let summary: Awaited<ReturnType<NonNullable<typeof harness.sandbox.app.runMonitor>>>;
    try {
      summary = await harness.sandbox.app.runMonitor!();
    } finally {
      await putItem(append);
    }
    const violation = summary.violations.find((v) => v.origin === last.origin);
    printCounts('sandbox-tamper truncation', {
      violations: summary.violations.length,
      check: violation?.check ?? 'none',
      leaf: violation?.leafIndex ?? -1,
      archivedSize: size,
    });
    expect(violation?.check).toBe('truncated');
    expect(violation?.message).toContain(String(size));
    const again = await harness.sandbox.app.runMonitor!();
    expect(again.violations).toEqual([]);
  });
});
