import { randomUUID } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LocalSigner } from '#adapters/local-signer.ts';
import { API_ROUTES } from '#core/api-routes.ts';
import { createIngest } from '#core/ingest.ts';
import {
  AppendConflictError,
  type AppendRecord,
  type EventQuery,
  type LedgerStore,
  type StoredEvent,
} from '#core/ports.ts';
import { verifyReceipt } from '#core/receipt.ts';
import { keyMap, type PublicKeyInfo } from '#core/signer.ts';
import type { Io } from '../../cli/io.ts';
import { run } from '../../cli/main.ts';
import { createIngestHandler } from '../../lambdas/http/ingest.ts';
import { createReadHandler } from '../../lambdas/http/read.ts';

/** The ledger in memory, with the same conditions as DynamoDB: an append position or event id is taken once. */
class MemoryLedger implements LedgerStore {
  appends = new Map<string, AppendRecord[]>();
  events = new Map<string, StoredEvent>();
  keys: PublicKeyInfo[] = [];

  async readHead(origin: string) {
    const last = this.appends.get(origin)?.at(-1);
    return last
      ? { origin, size: last.size, frontier: last.frontier, checkpoint: last.checkpoint }
      : { origin, size: 0, frontier: [], checkpoint: null };
  }
  async getEvents(tenant: string, ids: readonly string[]) {
    const found = new Map<string, StoredEvent>();
    for (const id of ids) {
      const event = this.events.get(`${tenant}#${id}`);
      if (event) found.set(id, event);
    }
    return found;
  }
  async commitAppend(append: AppendRecord, events: readonly StoredEvent[]) {
    if ((await this.readHead(append.origin)).size !== append.start)
      throw new AppendConflictError('head_moved');
    if (events.some((e) => this.events.has(`${e.tenant}#${e.eventId}`)))
      throw new AppendConflictError('duplicate_event');
    this.appends.set(append.origin, [...(this.appends.get(append.origin) ?? []), append]);
    for (const event of events) this.events.set(`${event.tenant}#${event.eventId}`, event);
  }
  async getAppend(origin: string, start: number) {
    return this.appends.get(origin)?.find((append) => append.start === start);
  }
  async listAppends(origin: string, fromStart: number, limit: number) {
    const rest = (this.appends.get(origin) ?? []).filter((append) => append.start >= fromStart);
    const page = rest.slice(0, limit);
    return { appends: page, ...(rest.length > limit ? { next: page.at(-1)!.size } : {}) };
  }
  async registerKey(key: PublicKeyInfo) {
    if (!this.keys.some((known) => known.keyId === key.keyId)) this.keys.push(key);
  }
  async listKeys() {
    return this.keys;
  }
  async queryEvents(query: EventQuery) {
    const all = [...this.events.values()]
      .filter((event) => event.tenant === query.tenant)
      .sort((a, b) => b.leafIndex - a.leafIndex || b.origin.localeCompare(a.origin));
    const offset = Number(query.cursor ?? 0);
    const events = all.slice(offset, offset + query.limit);
    return { events, ...(offset + query.limit < all.length ? { cursor: String(offset + query.limit) } : {}) };
  }

  /** The stored event, for tampering like an attacker with table access. */
  event(id: string) {
    return this.events.get(`${TENANT}#${id}`)!;
  }
  replaceRecord(id: string, record: string) {
    this.events.set(`${TENANT}#${id}`, { ...this.event(id), record });
  }
}

const TENANT = 'acme';
const DEPLOYMENT = 'test.example';
const ORIGIN = `${DEPLOYMENT}/${TENANT}/0`;
const ROLES = ['writer', 'auditor'] as const;
const principal = (role: string) => `arn:aws:iam::123456789012:role/${role}`;
const accessKey = (role: string) => `AKID${role.toUpperCase()}`;

/** The real ingest and read handlers behind a tiny HTTP front that maps access keys to principals. */
async function startApi(ledger: MemoryLedger, signer: LocalSigner) {
  const tenants = {
    tenants: [
      {
        name: TENANT,
        shards: 1,
        writers: [principal('writer')],
        readers: [],
        auditors: [principal('auditor')],
      },
    ],
  };
  const handlers = {
    ingest: createIngestHandler({
      tenants,
      ingest: createIngest({ store: ledger, signer, deploymentOrigin: DEPLOYMENT }),
    }),
    read: createReadHandler({ store: ledger, tenants, deploymentOrigin: DEPLOYMENT }),
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      const [path = '', query = ''] = (req.url ?? '').split('?');
      const role = ROLES.find((r) => req.headers.authorization?.includes(`Credential=${accessKey(r)}/`));
      const found = matchRoute(req.method ?? '', path);
      if (!role || !found) {
        res.writeHead(role ? 404 : 403, { 'content-type': 'application/json' }).end('{"message":"no"}');
        return;
      }
      const event = {
        resource: found.route.resource,
        path,
        httpMethod: found.route.method,
        headers: { 'content-type': String(req.headers['content-type'] ?? '') },
        pathParameters: found.parameters,
        queryStringParameters: query ? Object.fromEntries(new URLSearchParams(query)) : null,
        body: Buffer.concat(chunks).toString('utf8') || null,
        isBase64Encoded: false,
        requestContext: {
          requestId: randomUUID(),
          requestTimeEpoch: Date.now(),
          identity: {
            userArn: principal(role),
            accountId: '123456789012',
            sourceIp: '127.0.0.1',
            userAgent: 'test',
          },
        },
      } as unknown as APIGatewayProxyEvent;
      const response = await handlers[found.route.target](event);
      res.writeHead(response.statusCode, response.headers as Record<string, string>).end(response.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function matchRoute(method: string, path: string) {
  const segments = path.split('/').slice(1);
  for (const route of API_ROUTES) {
    const pattern = route.resource.split('/').slice(1);
    if (route.method !== method || pattern.length !== segments.length) continue;
    const parameters: Record<string, string> = {};
    const fits = pattern.every((part, i) => {
      const name = /^\{(\w+)\}$/.exec(part)?.[1];
      if (name) parameters[name] = decodeURIComponent(segments[i]!);
      return name !== undefined || part === segments[i];
    });
    if (fits) return { route, parameters: Object.keys(parameters).length > 0 ? parameters : null };
  }
  return undefined;
}

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  json: () => unknown;
  lines: () => unknown[];
}

let dir = '';

async function cli(args: string[], stdin: string[] = []): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const io: Io = {
    stdout: { write: (chunk: string) => (stdout += chunk) },
    stderr: { write: (chunk: string) => (stderr += chunk) },
    stdin: Object.assign(
      (async function* () {
        yield* stdin;
      })(),
      { isTTY: false },
    ),
    env: {},
    cwd: dir,
  };
  const code = await run(args, io, {
    clientDefaults: { retry: { maxAttempts: 2, sleep: async () => undefined } },
  });
  return {
    code,
    stdout,
    stderr,
    json: () => JSON.parse(stdout),
    lines: () =>
      stdout
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line)),
  };
}

const event = (n: number, overrides: Record<string, unknown> = {}) => ({
  id: randomUUID(),
  time: `2026-01-31T12:00:${String(n % 60).padStart(2, '0')}Z`,
  action: 'deployment.apply',
  category: 'deployment',
  outcome: 'success',
  actor: { type: 'user', id: `user-${n}` },
  resources: [{ type: 'stack', id: `stack-${n}` }],
  source: { system: 'ci' },
  ...overrides,
});

const writeJson = (name: string, value: unknown) =>
  writeFileSync(join(dir, name), typeof value === 'string' ? value : JSON.stringify(value));

const signer = LocalSigner.generate();
let ledger: MemoryLedger;
let api: { server: Server; endpoint: string };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'audit-cli-'));
  ledger = new MemoryLedger();
  api = await startApi(ledger, signer);
  writeJson('sandbox.json', {
    endpoint: api.endpoint,
    region: 'us-east-1',
    tenant: TENANT,
    credentials: Object.fromEntries(
      ROLES.map((role) => [role, { accessKeyId: accessKey(role), secretAccessKey: 'x' }]),
    ),
  });
});
afterAll(() => new Promise<void>((resolve) => api.server.close(() => resolve())));
beforeEach(() => {
  ledger.appends.clear();
  ledger.events.clear();
});

const sandbox = ['--sandbox-file', 'sandbox.json'];

/** Sends `count` events in requests of `perRequest` (so the log has several appends); returns them. */
async function seed(count: number, perRequest = 3) {
  const events = Array.from({ length: count }, (_, n) => event(n));
  for (let i = 0; i < count; i += perRequest) {
    writeJson('seed.json', events.slice(i, i + perRequest));
    const sent = await cli(['send', 'seed.json', '--receipts-out', `receipts-${i}.jsonl`, ...sandbox]);
    expect(sent.code).toBe(0);
  }
  return events;
}

describe('audit-trail send', () => {
  it('sends JSON lines from stdin and prints one receipt per event with --json', async () => {
    const events = [event(1), event(2)];
    const result = await cli(
      ['send', '-', '--json', ...sandbox],
      events.map((e) => `${JSON.stringify(e)}\n`),
    );
    expect(result.code).toBe(0);
    const receipts = result.lines() as { eventId: string }[];
    expect(receipts.map((r) => r.eventId)).toEqual(events.map((e) => e.id));
    const keys = keyMap(ledger.keys);
    for (const receipt of receipts)
      expect(verifyReceipt(ledger.event(receipt.eventId).record, receipt, keys)).toEqual({ ok: true });
  });

  it('finds the sandbox in .audit-local/sandbox.json with --sandbox before the file argument', async () => {
    mkdirSync(join(dir, '.audit-local'), { recursive: true });
    copyFileSync(join(dir, 'sandbox.json'), join(dir, '.audit-local', 'sandbox.json'));
    writeJson('plain.json', [event(1)]);
    const result = await cli(['send', '--sandbox', 'plain.json']);
    expect(result.code).toBe(0);
    expect(ledger.events.size).toBe(1);
  });

  it('writes receipts to --receipts-out and a summary on stdout', async () => {
    writeJson('events.json', { events: [event(1), event(2), event(3)] });
    const result = await cli(['send', 'events.json', '--receipts-out', 'out.jsonl', ...sandbox]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/recorded 3 events in 1 request/);
    expect(readFileSync(join(dir, 'out.jsonl'), 'utf8').trim().split('\n')).toHaveLength(3);
  });

  it('returns the original receipts when a file is sent twice', async () => {
    writeJson('twice.json', [event(1)]);
    const first = await cli(['send', 'twice.json', '--json', ...sandbox]);
    const second = await cli(['send', 'twice.json', '--json', ...sandbox]);
    expect(second.code).toBe(0);
    expect(second.lines()).toEqual(first.lines());
    expect(ledger.events.size).toBe(1);
  });

  it('fails with exit 2 and index + path of each invalid event, sending nothing', async () => {
    writeJson('bad.json', [
      event(1),
      event(2, { outcome: 'maybe' }),
      event(3, { actor: { type: 'user', id: '' } }),
    ]);
    const result = await cli(['send', 'bad.json', '--json', ...sandbox]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    const error = (
      JSON.parse(result.stderr) as { error: { code: string; issues: { index: number; path: string }[] } }
    ).error;
    expect(error.code).toBe('invalid_event');
    expect(error.issues.map((issue) => [issue.index, issue.path])).toEqual([
      [1, 'outcome'],
      [2, 'actor.id'],
    ]);
    expect(ledger.events.size).toBe(0);
  });

  it('fails with exit 2 on a file that is not JSON', async () => {
    writeJson('garbage.txt', 'not json at all');
    expect((await cli(['send', 'garbage.txt', ...sandbox])).code).toBe(2);
  });

  it('fails with exit 3 and a JSON error when the API is unreachable', async () => {
    writeJson('one.json', [event(1)]);
    const result = await cli([
      'send',
      'one.json',
      '--json',
      '--endpoint',
      'http://127.0.0.1:9',
      '--region',
      'us-east-1',
      ...sandbox,
    ]);
    expect(result.code).toBe(3);
    const lines = result.stderr
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines[0]).toMatchObject({ note: expect.stringMatching(/^retrying POST \/v1\/events/) });
    expect(lines.at(-1)).toMatchObject({ error: { code: 'network_error' } });
  });

  it('fails with exit 3 and the API error code when an id is reused with other content', async () => {
    const original = event(1);
    writeJson('a.json', [original]);
    writeJson('b.json', [{ ...original, outcome: 'failure' }]);
    expect((await cli(['send', 'a.json', ...sandbox])).code).toBe(0);
    const result = await cli(['send', 'b.json', '--json', ...sandbox]);
    expect(result.code).toBe(3);
    expect(JSON.parse(result.stderr)).toMatchObject({ error: { code: 'event_conflict', status: 409 } });
  });
});

describe('audit-trail verify', () => {
  it('verifies an untouched trail: exit 0 with a summary', async () => {
    await seed(10);
    const result = await cli(['verify', '--json', ...sandbox]);
    expect(result.code).toBe(0);
    expect(result.json()).toMatchObject({
      ok: true,
      totals: { logs: 1, leaves: 10, appends: 4, signatures: 5 },
      eventsListed: 10,
    });
    const text = await cli(['verify', ...sandbox]);
    expect(text.stdout).toMatch(/verified 1 log: 10 events in 4 appends/);
  });

  it('fails with exit 1 naming the leaf and event when one byte of a record changes', async () => {
    const events = await seed(7);
    const target = events[4]!;
    ledger.replaceRecord(target.id, ledger.event(target.id).record.replace('user-4', 'user-5'));
    const result = await cli(['verify', '--json', ...sandbox]);
    expect(result.code).toBe(1);
    expect(result.json()).toMatchObject({
      ok: false,
      failure: { check: 'leaf-hash', origin: ORIGIN, leafIndex: 4, eventId: target.id },
    });
  });

  it('fails with missing-leaf when a record is deleted', async () => {
    const events = await seed(7);
    ledger.events.delete(`${TENANT}#${events[2]!.id}`);
    const result = await cli(['verify', '--json', ...sandbox]);
    expect(result.code).toBe(1);
    expect(result.json()).toMatchObject({
      failure: { check: 'missing-leaf', leafIndex: 2, eventId: events[2]!.id },
    });
  });

  it('fails with event-id when two records swap contents', async () => {
    const events = await seed(7);
    const [a, b] = [ledger.event(events[1]!.id).record, ledger.event(events[5]!.id).record];
    ledger.replaceRecord(events[1]!.id, b);
    ledger.replaceRecord(events[5]!.id, a);
    const result = await cli(['verify', '--json', ...sandbox]);
    expect(result.json()).toMatchObject({
      failure: { check: 'event-id', leafIndex: 1, eventId: events[1]!.id },
    });
  });

  it('fails with orphan naming the lost event when the head is rolled back', async () => {
    const events = await seed(7);
    ledger.appends.get(ORIGIN)!.pop();
    const result = await cli(['verify', '--json', ...sandbox]);
    expect(result.code).toBe(1);
    expect(result.json()).toMatchObject({ failure: { check: 'orphan', eventId: events[6]!.id } });
  });

  it('fails with truncated naming leaf and event when a receipt witness outlives a rollback', async () => {
    const events = await seed(7);
    ledger.appends.get(ORIGIN)!.pop();
    const result = await cli(['verify', '--json', '--checkpoints', 'receipts-6.jsonl', ...sandbox]);
    expect(result.json()).toMatchObject({
      failure: { check: 'truncated', origin: ORIGIN, leafIndex: 6, eventId: events[6]!.id },
    });
  });

  it('saves verified heads and later detects a rollback against them', async () => {
    await seed(7);
    expect((await cli(['verify', '--save-checkpoints', 'heads.json', ...sandbox])).code).toBe(0);
    ledger.appends.get(ORIGIN)!.pop();
    for (const key of [...ledger.events.keys()])
      if (ledger.events.get(key)!.leafIndex >= 6) ledger.events.delete(key);
    const result = await cli(['verify', '--json', '--checkpoints', 'heads.json', ...sandbox]);
    expect(result.code).toBe(1);
    expect(result.json()).toMatchObject({ failure: { check: 'truncated', leafIndex: 6 } });
  });

  it('never writes terminal escapes from stored content', async () => {
    const events = await seed(4);
    const hostile = '\u001b]0;owned\u0007\u001b[2J\u202eevil';
    const stored = JSON.parse(ledger.event(events[0]!.id).record) as Record<string, unknown>;
    ledger.replaceRecord(events[0]!.id, JSON.stringify({ ...stored, id: hostile }));
    for (const args of [
      ['verify', ...sandbox],
      ['verify', '--json', ...sandbox],
    ]) {
      const result = await cli(args);
      expect(result.code).toBe(1);
      // biome-ignore lint/suspicious/noControlCharactersInRegex: looking for raw escapes is the point.
      expect(result.stdout + result.stderr).not.toMatch(/[\u001b\u0007\u202e]/);
    }
    expect((await cli(['verify', ...sandbox])).stdout).toContain('\\u001b]0;owned');
  });

  it('fails with exit 2 on an unreadable witness file', async () => {
    expect((await cli(['verify', '--checkpoints', 'nope.json', ...sandbox])).code).toBe(2);
  });
});

describe('audit-trail verify-receipt', () => {
  async function sendOne() {
    const one = event(1);
    writeJson('one.json', [one]);
    const receipt = (await cli(['send', 'one.json', '--json', ...sandbox])).lines()[0];
    writeJson('event.json', ledger.event(one.id).record);
    writeJson('receipt.json', receipt);
    writeJson('key.pem', ledger.keys[0]!.publicKeyPem);
    return { one, receipt };
  }

  it('verifies an event and its receipt offline: exit 0', async () => {
    await sendOne();
    const result = await cli([
      'verify-receipt',
      '--event',
      'event.json',
      '--receipt',
      'receipt.json',
      '--public-key',
      'key.pem',
      '--json',
    ]);
    expect(result.code).toBe(0);
    expect(result.json()).toMatchObject({ ok: true, leafIndex: 0, treeSize: 1 });
  });

  it('accepts the {event, receipt} answer of GET /v1/events/{id} and a public-keys document', async () => {
    const { one, receipt } = await sendOne();
    writeJson('both.json', { event: JSON.parse(ledger.event(one.id).record), receipt });
    writeJson('keys.json', { keys: ledger.keys });
    expect((await cli(['verify-receipt', '--event', 'both.json', '--public-key', 'keys.json'])).code).toBe(0);
  });

  it('fails with exit 1 when the event was changed', async () => {
    const { one } = await sendOne();
    writeJson('event.json', ledger.event(one.id).record.replace('success', 'failure'));
    const result = await cli([
      'verify-receipt',
      '--event',
      'event.json',
      '--receipt',
      'receipt.json',
      '--public-key',
      'key.pem',
      '--json',
    ]);
    expect(result.code).toBe(1);
    expect(result.json()).toMatchObject({ ok: false, check: 'leaf-hash' });
  });

  it('fails with exit 1 when the key is not the one that signed', async () => {
    await sendOne();
    writeJson('other.pem', (await LocalSigner.generate().publicKey()).publicKeyPem);
    expect(
      (
        await cli([
          'verify-receipt',
          '--event',
          'event.json',
          '--receipt',
          'receipt.json',
          '--public-key',
          'other.pem',
        ])
      ).code,
    ).toBe(1);
  });

  it('fails with exit 1 when --key-id names another key than the receipt', async () => {
    await sendOne();
    const args = [
      'verify-receipt',
      '--event',
      'event.json',
      '--receipt',
      'receipt.json',
      '--public-key',
      'key.pem',
      '--key-id',
      'other',
    ];
    expect((await cli(args)).code).toBe(1);
  });

  it('fails with exit 2 when a file is missing or a flag is absent', async () => {
    expect(
      (await cli(['verify-receipt', '--event', 'none.json', '--receipt', 'r.json', '--public-key', 'k.pem']))
        .code,
    ).toBe(2);
    expect((await cli(['verify-receipt', '--event', 'event.json'])).code).toBe(2);
  });
});

describe('usage', () => {
  it('fails with exit 2 on an unknown command or option, as JSON with --json', async () => {
    expect((await cli(['frobnicate'])).code).toBe(2);
    const result = await cli(['verify', '--bogus', '--json']);
    expect(result.code).toBe(2);
    expect(JSON.parse(result.stderr)).toMatchObject({ error: { code: 'usage' } });
  });

  it('fails with exit 2 without an endpoint, and for plain http to another host', async () => {
    expect((await cli(['verify'])).code).toBe(2);
    expect((await cli(['verify', '--endpoint', 'http://example.com', '--region', 'us-east-1'])).code).toBe(2);
  });

  it('exits 0 for --help', async () => {
    const result = await cli(['--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/verify-receipt/);
  });
});
