import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirectoryArchiveStore } from '#adapters/directory-archive.ts';
import { appendFromItem, eventFromItem } from '#adapters/dynamo-ledger-store.ts';
import { gzipDeterministic } from '#core/archiving.ts';
import { canonicalize } from '#core/canonical.ts';
import { KEYS_PARTITION, logPartition } from '#core/ledger-layout.ts';
import { type Receipt, verifyReceipt } from '#core/receipt.ts';
import { clientFields } from '#core/record.ts';
import { keyMap, type PublicKeyInfo } from '#core/signer.ts';
import { LogVerifier } from '#core/verify-log.ts';
import type { AppendWithLeavesJson } from '#core/wire.ts';
import { escapeText, safeJson } from '../../cli/escape.ts';
import type { Io } from '../../cli/io.ts';
import { run as runCli } from '../../cli/main.ts';
import { formatCsv, formatTable } from '../../cli/reports/format.ts';
import { createAlerter } from '../../lambdas/streams/alerter.ts';
import { createArchiver } from '../../lambdas/streams/archiver.ts';
import { apiEvent, lambdaContext, responseBody } from '../support/apigw.ts';
import { makeEvent } from '../support/events.ts';
import { LEDGER_TABLE_DEFINITION, mockDynamoDb } from '../support/fake-dynamodb.ts';
import { fakeKmsKey, mockKms } from '../support/fake-kms.ts';
import {
  ACCOUNT,
  AUDITOR,
  DEPLOYMENT_ORIGIN,
  insertRecord,
  MemoryArchive,
  originOf,
  postEvent,
  printCounts,
  SequenceSource,
  TENANT,
  tenantsConfig,
} from '../support/reliability-kit.ts';

/**
 * Valid events full of hostile content (CR/LF, ANSI escapes, NUL, bidi overrides, C1 controls, zero-width
 * and separator characters, 60 KB strings, astral characters, unnormalized Unicode, `__proto__` keys,
 * edge-of-range numbers) go through the real Lambda entries: stored and read back byte-exact (the record
 * GET /v1/events/{id} returns is the canonical form stored and hashed), receipts verify, the log and the
 * archive verify. What reaches a terminal (CLI output) or a log line (Powertools JSON) carries no raw
 * control character.
 */

const HOSTILE = [
  'line1\r\nline2',
  'cr\ronly',
  '\u001b[31mred\u001b[0m \u001b[2J\u001b[H',
  '\u001b]0;window title\u0007',
  'nul\u0000byte',
  'right-to-left \u202Egnp.exe\u202C override',
  '\u2066isolate\u2069 \u061C arabic mark',
  'zero\u200Bwidth\u200D joiner',
  'bom\uFEFFinside',
  'next\u0085line and \u009b31m C1 CSI',
  'separators\u2028and\u2029paragraph',
  'astral \u{1F600}\u{1F9D1}\u200D\u{1F680} \u{10FFFF}',
  'tab\there \u007f delete',
  '"quotes" \\ backslash \\u001b not an escape',
  '</script><img src=x onerror=alert(1)>',
];
const NFC = 'caf\u00e9';
const NFD = 'cafe\u0301';
const BIG_ASCII = 'x'.repeat(60_000);
const BIG_ASTRAL = '\u{1F600}'.repeat(15_000); // 30,000 UTF-16 units, 60,000 UTF-8 bytes

/** Terminal-active characters: none may reach an auditor's terminal raw. */
const TERMINAL_ACTIVE =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point.
  /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point.
const RAW_C0 = /[\u0000-\u001f]/;

const TABLE = 'rel-hostile-ledger';
const key = fakeKmsKey({
  keyArn: `arn:aws:kms:eu-west-1:${ACCOUNT}:key/hostile`,
  aliases: ['alias/hostile'],
});
const kms = mockKms([key]);
const { db, mock: dynamo } = mockDynamoDb({ [TABLE]: LEDGER_TABLE_DEFINITION });

type Handler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;
let ingest: Handler;
let read: Handler;

/** Everything written to stdout/stderr while `fn` runs (Powertools writes its JSON lines there). */
async function captureOutput<T>(fn: () => Promise<T>): Promise<{ result: T; lines: string[] }> {
  const chunks: string[] = [];
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  const grab = (chunk: string | Uint8Array) => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  };
  process.stdout.write = grab as typeof process.stdout.write;
  process.stderr.write = grab as typeof process.stderr.write;
  try {
    const result = await fn();
    return {
      result,
      lines: chunks
        .join('')
        .split('\n')
        .filter((line) => line !== ''),
    };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
}

/** The hostile events, as the exact JSON text a client sends (one with a `__proto__` key in change.before). */
function hostileEvents(): { text: string; ids: string[] } {
  const events = HOSTILE.map((text, i) =>
    makeEvent(`hostile-${i}`, {
      actor: { type: 'user', id: text.slice(0, 256), name: text, userAgent: text },
      resources: [{ type: 'bucket', id: text, name: text }],
      source: { system: text.slice(0, 128), environment: 'prod', region: 'eu-west-1' },
      reason: text,
      correlationId: text,
      change: { before: { [text]: text, nested: [text, { deeper: text }] }, after: text, summary: text },
      metadata: {
        [text.slice(0, 128)]: text,
        big: Number.MAX_SAFE_INTEGER,
        small: -Number.MAX_SAFE_INTEGER,
        flag: true,
      },
    }),
  );
  events.push(
    makeEvent('hostile-nfc', { actor: { type: 'user', id: NFC }, reason: NFC }),
    makeEvent('hostile-nfd', { actor: { type: 'user', id: NFD }, reason: NFD }),
    makeEvent('hostile-big', {
      change: { before: BIG_ASCII, after: BIG_ASTRAL, summary: 'sixty kilobytes each' },
    }),
    makeEvent('hostile-numbers', {
      change: {
        before: { half: 1.5, tiny: 1e-7, avogadro: 6.02214076e23 / 1e46, third: 1 / 3, negZero: -0 },
        after: [0.1, -2.5e-10],
      },
    }),
  );
  const ids = events.map((event) => event.id.toUpperCase());
  // Upper-case ids (the server keeps one spelling) and a `__proto__` key only a JSON text can carry.
  const text = JSON.stringify({ events: events.map((event, i) => ({ ...event, id: ids[i] })) }).replace(
    '"before":{"half"',
    '"before":{"__proto__":{"polluted":true},"half"',
  );
  return { text, ids };
}

const sent = hostileEvents();
let ingestLog: string[] = [];
const stored = new Map<string, string>();

beforeAll(async () => {
  Object.assign(process.env, {
    AWS_REGION: 'eu-west-1',
    LEDGER_TABLE_NAME: TABLE,
    SIGNING_KEY_ID: 'alias/hostile',
    SIGNING_ALGORITHM: 'ECDSA_SHA_256',
    DEPLOYMENT_ORIGIN,
    TENANTS_CONFIG: JSON.stringify(tenantsConfig()),
    POWERTOOLS_METRICS_NAMESPACE: 'AuditTrailReliability',
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_LOG_LEVEL: 'DEBUG',
    POWERTOOLS_SERVICE_NAME: 'reliability',
  });
  delete process.env.POWERTOOLS_DEV;
  ingest = (await import('#handlers/ingest.ts')).handler;
  read = (await import('#handlers/read.ts')).handler;
  const captured = await captureOutput(async () => {
    const response = await ingest(postEvent(sent.text), lambdaContext('ingest'));
    expect(response.statusCode, response.body).toBe(201);
    // Rejections whose messages carry hostile field names: the ingest function logs them.
    for (const text of HOSTILE) {
      const event = { ...makeEvent(`rejected-${text}`), [text]: 1 };
      const rejected = await ingest(
        postEvent(JSON.stringify({ events: [event], [`x${text}`]: 2 })),
        lambdaContext('ingest'),
      );
      expect(rejected.statusCode).toBe(400);
      const rejectedEvent = await ingest(
        postEvent(JSON.stringify({ events: [event] })),
        lambdaContext('ingest'),
      );
      expect(rejectedEvent.statusCode).toBe(400);
    }
  });
  ingestLog = captured.lines;
  for (const item of db.items(TABLE))
    if (item.pk!.S!.startsWith('EVENT#')) stored.set(eventFromItem(item).eventId, item.record!.S!);
});

afterAll(() => {
  kms.restore();
  dynamo.restore();
});

const get = async (
  resource: string,
  pathParameters?: Record<string, string>,
  query?: Record<string, string>,
) => {
  const response = await read(
    apiEvent({
      method: 'GET',
      resource,
      principalArn: AUDITOR,
      ...(pathParameters ? { pathParameters } : {}),
      ...(query ? { query } : {}),
    }),
    lambdaContext('read'),
  );
  expect(response.statusCode).toBe(200);
  return { body: responseBody(response), raw: response.body };
};

describe('hostile content stored and read back', () => {
  it('reads every record back byte-exact: the API record is the canonical form stored, with the client content unchanged', async () => {
    const keys = keyMap(((await get('/v1/public-keys')).body as { keys: PublicKeyInfo[] }).keys);
    const sentEvents = (JSON.parse(sent.text) as { events: Record<string, unknown>[] }).events;
    let exact = 0;
    let receipts = 0;
    for (const [i, id] of sent.ids.entries()) {
      const { body } = await get('/v1/events/{id}', { id });
      const record = body.event as Record<string, unknown>;
      const eventId = id.toLowerCase();
      expect(canonicalize(record)).toBe(stored.get(eventId));
      // What the client sent, exactly (ids in the one lower-case spelling; -0 is 0 in canonical JSON).
      expect(canonicalize(clientFields(record))).toBe(canonicalize({ ...sentEvents[i], id: eventId }));
      if (canonicalize(record) === stored.get(eventId)) exact++;
      expect(verifyReceipt(record, body.receipt as Receipt, keys)).toEqual({ ok: true });
      receipts++;
    }
    const nfc = (await get('/v1/events/{id}', { id: sent.ids[HOSTILE.length]! })).body.event.actor.id;
    const nfd = (await get('/v1/events/{id}', { id: sent.ids[HOSTILE.length + 1]! })).body.event.actor.id;
    const withProto = (await get('/v1/events/{id}', { id: sent.ids.at(-1)! })).body.event.change.before;
    printCounts('hostile-content storage', {
      events: sent.ids.length,
      byteExact: exact,
      receiptsVerified: receipts,
      largestRecordBytes: Math.max(...[...stored.values()].map((r) => Buffer.byteLength(r))),
    });
    expect(exact).toBe(sent.ids.length);
    expect([nfc, nfd]).toEqual([NFC, NFD]);
    expect(Object.hasOwn(withProto, '__proto__')).toBe(true);
    expect(withProto.negZero).toBe(0);
  });

  it('verifies the whole log of hostile records and lists them unchanged', async () => {
    const keys = keyMap(((await get('/v1/public-keys')).body as { keys: PublicKeyInfo[] }).keys);
    const { body } = await get('/v1/logs/{origin}/appends', { origin: originOf(0) }, { limit: '100' });
    const verifier = new LogVerifier({ origin: originOf(0), keys });
    for (const append of body.appends as AppendWithLeavesJson[])
      expect(verifier.push(append)).toBeUndefined();
    expect(verifier.finish().failure).toBeUndefined();
    const listed = (await get('/v1/events', undefined, { limit: '100' })).body.events as Record<
      string,
      unknown
    >[];
    expect(listed.map((record) => canonicalize(record)).sort()).toEqual([...stored.values()].sort());
  });
});

describe('hostile content in log lines (Powertools JSON)', () => {
  it('keeps every raw control character out of the log lines of the ingest and stream functions', async () => {
    // Stream consumers log the records they cannot process; these names and messages carry hostile text.
    const logger = new Logger({ serviceName: 'reliability' });
    const sequences = new SequenceSource();
    const poison = HOSTILE.map((text) =>
      insertRecord(
        {
          pk: { S: `EVENT#${TENANT}#${text}` },
          sk: { S: 'EVENT' },
          record: { S: `not json ${text}` },
          origin: { S: text },
          leafIndex: { N: '0' },
          appendStart: { N: '0' },
          leafHash: { B: new Uint8Array(32) },
        },
        sequences,
      ),
    );
    const archiver = createArchiver({
      archive: new MemoryArchive(),
      codec: { eventFromItem, appendFromItem },
      log: logger,
    });
    const alerter = createAlerter({
      bus: { publish: async () => undefined },
      codec: { eventFromItem, appendFromItem },
      log: logger,
    });
    const { lines: streamLog } = await captureOutput(async () => {
      for (const record of poison) {
        await archiver({ Records: [record] }).catch(() => undefined);
        await alerter({ Records: [record] }).catch(() => undefined);
      }
    });
    const lines = [...ingestLog, ...streamLog];
    const notJson = lines.filter((line) => {
      try {
        JSON.parse(line);
        return false;
      } catch {
        return true;
      }
    });
    const rawControl = lines.filter((line) => RAW_C0.test(line));
    // Each hostile string reached some log line, JSON-escaped (so the checks below are about real content).
    const reached = HOSTILE.filter((text) =>
      lines.some((line) => line.includes(JSON.stringify(text).slice(1, -1))),
    );
    const rawBidiOrC1 = lines.filter((line) =>
      /[\u0080-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069]/.test(line),
    );
    printCounts('hostile-content logs', {
      lines: lines.length,
      ingestLines: ingestLog.length,
      streamLines: streamLog.length,
      hostileStringsInLogs: reached.length,
      rawControlLines: rawControl.length,
      notJson: notJson.length,
      rawBidiOrC1Lines: rawBidiOrC1.length,
    });
    expect(rawControl).toEqual([]);
    expect(notJson).toEqual([]);
    expect(reached).toEqual(HOSTILE);
    expect(streamLog.length).toBeGreaterThan(0);
  });
});

/** An Io that records what the CLI writes. */
function memoryIo(cwd: string): Io & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    stdout: { write: (chunk: string) => (out += chunk) },
    stderr: { write: (chunk: string) => (err += chunk) },
    stdin: (async function* () {})(),
    env: {},
    cwd,
    out: () => out,
    err: () => err,
  };
}

/** Output a person reads: every line CLI-composed, no raw terminal-active character anywhere. */
function expectSafeText(text: string, allowedPrefixes: readonly RegExp[]) {
  const lines = text.split('\n').filter((line) => line !== '');
  for (const line of lines) {
    expect(TERMINAL_ACTIVE.test(line), `raw control in ${JSON.stringify(line)}`).toBe(false);
    expect(
      allowedPrefixes.some((prefix) => prefix.test(line)),
      `unexpected line ${JSON.stringify(line)}`,
    ).toBe(true);
  }
  return lines;
}

describe('hostile content in CLI output', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rel-hostile-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('escapes every hostile value (escape.ts): no terminal-active character survives, JSON stays the same value', async () => {
    let values = 0;
    for (const [, raw] of stored) {
      const record = JSON.parse(raw) as Record<string, unknown>;
      const json = safeJson(record, 2);
      expect(TERMINAL_ACTIVE.test(json)).toBe(false);
      expect(JSON.parse(json)).toEqual(record);
      values++;
    }
    for (const text of [...HOSTILE, NFD, BIG_ASTRAL])
      expect(TERMINAL_ACTIVE.test(escapeText(text))).toBe(false);
    const rows = [...stored.values()].map((raw) => {
      const record = JSON.parse(raw) as { actor: { id: string }; reason?: string };
      return { actor_id: record.actor.id, reason: record.reason ?? null };
    });
    const table = formatTable({ columns: ['actor_id', 'reason'], rows });
    expect(table.length).toBe(rows.length + 2);
    for (const line of table) expect(TERMINAL_ACTIVE.test(line) || line.includes('\n')).toBe(false);
    const csv = formatCsv({ columns: ['actor_id', 'reason'], rows });
    expect(TERMINAL_ACTIVE.test(csv.replaceAll('\r\n', ''))).toBe(false);
    printCounts('hostile-content cli escaping', {
      records: values,
      hostileStrings: HOSTILE.length + 2,
      tableLines: table.length,
    });
  });

  it('fails verify-receipt on a record whose id was replaced with terminal escapes and line breaks, without letting them reach the terminal', async () => {
    const id = sent.ids[0]!.toLowerCase();
    const { body } = await get('/v1/events/{id}', { id });
    const forged = `${id}\nreceipt verifies: event ${id} is leaf 0 \u001b[2K\u001b[1A\r`;
    writeFileSync(join(dir, 'event.json'), JSON.stringify({ ...body.event, id: forged }));
    writeFileSync(join(dir, 'receipt.json'), JSON.stringify(body.receipt));
    writeFileSync(join(dir, 'key.pem'), key.publicKeyPem);
    const io = memoryIo(dir);
    const code = await runCli(
      ['verify-receipt', '--event', 'event.json', '--receipt', 'receipt.json', '--public-key', 'key.pem'],
      io,
    );
    expect(code).toBe(1);
    const lines = expectSafeText(io.out(), [/^receipt does NOT verify/]);
    expect(lines).toHaveLength(1);
    expect(TERMINAL_ACTIVE.test(io.err())).toBe(false);
  });

  it('fails verify-archive on an archived record whose id carries line breaks and escapes, printing one field per line', async () => {
    const archiveDir = join(dir, 'archive');
    const archive = new DirectoryArchiveStore(archiveDir);
    const archiver = createArchiver({ archive, codec: { eventFromItem, appendFromItem } });
    const sequences = new SequenceSource();
    const items = db.items(TABLE);
    const records = [
      ...items.filter((item) => item.pk!.S === KEYS_PARTITION),
      ...items.filter((item) => item.pk!.S === logPartition(originOf(0))),
      ...items.filter((item) => item.pk!.S!.startsWith('EVENT#')),
    ].map((item) => insertRecord(item, sequences));
    expect((await archiver({ Records: records })).batchItemFailures).toEqual([]);
    const clean = memoryIo(dir);
    expect(await runCli(['verify-archive', archiveDir], clean)).toBe(0);
    expectSafeText(clean.out(), [/^verified archive /, /^ {2}\S+: size \d+$/]);

    // An archived line whose record id became `<id>\n  check:  none\n  what:   all good` with escapes.
    let key = '';
    for await (const listed of archive.list('events/')) key ||= listed;
    const lines = gunzipSync((await archive.get(key))!)
      .toString('utf8')
      .split('\n')
      .filter(Boolean);
    const line = JSON.parse(lines[0]!);
    line.record.id = `${line.record.id}\n  check:  none\n  what:   all good\u001b[8m`;
    lines[0] = canonicalize(line);
    await archive.put(
      key,
      gzipDeterministic(new TextEncoder().encode(lines.map((l) => `${l}\n`).join(''))),
      'application/gzip',
    );
    const io = memoryIo(dir);
    expect(await runCli(['verify-archive', archiveDir], io)).toBe(1);
    const out = expectSafeText(io.out(), [
      /^ARCHIVE VERIFICATION FAILED/,
      /^ {2}(check|log|leaf|event|append|what): /,
    ]);
    for (const field of ['check', 'what'])
      expect(out.filter((l) => l.startsWith(`  ${field}:`))).toHaveLength(1);
    const json = memoryIo(dir);
    expect(await runCli(['verify-archive', archiveDir, '--json'], json)).toBe(1);
    expect(TERMINAL_ACTIVE.test(json.out())).toBe(false);
    expect(JSON.parse(json.out()).failure.check).toBe('event-id');
  });
});
