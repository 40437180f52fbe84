import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AuditApiError, AuditClient, EventValidationError } from '../../cli/client.ts';
import { backoffDelay, DEFAULT_RETRY, parseRetryAfter } from '../../cli/retry.ts';

const CREDENTIALS = { accessKeyId: 'AKIDEXAMPLETEST00001', secretAccessKey: 'test-secret' };
const REGION = 'eu-west-1';

interface Seen {
  method: string;
  path: string;
  query: Record<string, string>;
  body: string;
  signatureValid: boolean;
}

type Reply = { status: number; body?: unknown; headers?: Record<string, string> } | 'drop';

/** Recomputes the request's SigV4 signature with the SDK signer and the shared secret. */
async function signatureValid(req: IncomingMessage, body: string): Promise<boolean> {
  const authorization = req.headers.authorization ?? '';
  const signedHeaders = /SignedHeaders=([^,]+)/.exec(authorization)?.[1]?.split(';') ?? [];
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  const match = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
  if (
    !match ||
    !/Credential=AKIDEXAMPLETEST00001\/\d{8}\/eu-west-1\/execute-api\/aws4_request/.test(authorization)
  )
    return false;
  const [rawPath = '', rawQuery = ''] = (req.url ?? '').split('?');
  const query: Record<string, string> = {};
  for (const pair of rawQuery.split('&').filter(Boolean)) {
    const [key = '', value = ''] = pair.split('=');
    query[decodeURIComponent(key)] = decodeURIComponent(value);
  }
  const headers: Record<string, string> = {};
  for (const name of signedHeaders) headers[name] = String(req.headers[name] ?? '');
  const signer = new SignatureV4({
    service: 'execute-api',
    region: REGION,
    credentials: CREDENTIALS,
    sha256: Sha256,
  });
  const resigned = await signer.sign(
    {
      method: req.method ?? 'GET',
      protocol: 'http:',
      hostname: '127.0.0.1',
      path: rawPath,
      query,
      headers,
      body,
    },
    { signingDate: new Date(`${match[1]}-${match[2]}-${match[3]}T${match[4]}:${match[5]}:${match[6]}Z`) },
  );
  return resigned.headers.authorization === authorization;
}

/** A local API that records each request (and whether its signature holds) and answers from a script. */
function fakeApi() {
  const seen: Seen[] = [];
  let script: (request: Seen) => Reply = () => ({
    status: 404,
    body: { error: { code: 'not_found', message: 'no' } },
  });
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const [path = '', rawQuery = ''] = (req.url ?? '').split('?');
      const query = Object.fromEntries(new URLSearchParams(rawQuery));
      const request = {
        method: req.method ?? '',
        path,
        query,
        body,
        signatureValid: await signatureValid(req, body),
      };
      seen.push(request);
      const reply = request.signatureValid
        ? script(request)
        : { status: 403, body: { message: 'signature mismatch' } };
      if (reply === 'drop') {
        req.socket.destroy();
        return;
      }
      res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
      res.end(reply.body === undefined ? '' : JSON.stringify(reply.body));
    });
  });
  return {
    seen,
    server,
    answer(next: (request: Seen) => Reply) {
      script = next;
    },
    async start() {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    },
  };
}

const api = fakeApi();
let endpoint = '';
const sleeps: number[] = [];

function client(extra: Partial<ConstructorParameters<typeof AuditClient>[0]> = {}) {
  return new AuditClient({
    endpoint,
    region: REGION,
    credentials: CREDENTIALS,
    retry: { sleep: async (ms) => void sleeps.push(ms), random: () => 0.5, maxAttempts: 4 },
    ...extra,
  });
}

const validEvent = (overrides: Record<string, unknown> = {}) => ({
  id: randomUUID(),
  time: '2026-01-31T12:00:00Z',
  action: 'deployment.apply',
  category: 'deployment',
  outcome: 'success',
  actor: { type: 'user', id: 'alice' },
  resources: [{ type: 'stack', id: 'prod' }],
  source: { system: 'ci' },
  ...overrides,
});

/** A receipt-shaped answer per posted event, in order. */
const receiptsFor = (body: string) => ({
  receipts: (JSON.parse(body) as { events: { id: string }[] }).events.map((event, i) => ({
    eventId: event.id,
    leafIndex: i,
  })),
});

beforeAll(async () => {
  endpoint = await api.start();
});
afterAll(() => new Promise<void>((resolve) => api.server.close(() => resolve())));
afterEach(() => {
  api.seen.length = 0;
  sleeps.length = 0;
});

describe('AuditClient', () => {
  it('signs requests with SigV4 for execute-api, including encoded path segments and queries', async () => {
    api.answer(() => ({ status: 200, body: { appends: [{ start: 0 }], next: null } }));
    const appends = [];
    for await (const append of client().listAppends('deploy.example/acme/0', 0)) appends.push(append);
    expect(appends).toHaveLength(1);
    expect(api.seen[0]).toMatchObject({
      path: '/v1/logs/deploy.example%2Facme%2F0/appends',
      query: { from: '0', limit: '10' },
      signatureValid: true,
    });
  });

  it('keeps the stage path of the endpoint', async () => {
    api.answer(() => ({ status: 200, body: { keys: [] } }));
    await client({ endpoint: `${endpoint}/prod` }).publicKeys();
    expect(api.seen[0]).toMatchObject({ path: '/prod/v1/public-keys', signatureValid: true });
  });

  it('rejects requests signed with the wrong secret (the fake API really checks)', async () => {
    const wrong = client({ credentials: { ...CREDENTIALS, secretAccessKey: 'other' } });
    await expect(wrong.listLogs()).rejects.toMatchObject({ status: 403 });
    expect(api.seen[0]?.signatureValid).toBe(false);
  });

  it('retries 503 after the Retry-After delay, then returns the receipts', async () => {
    let calls = 0;
    api.answer((request) =>
      ++calls === 1
        ? {
            status: 503,
            headers: { 'retry-after': '2' },
            body: { error: { code: 'log_contention', message: 'busy' } },
          }
        : { status: 201, body: receiptsFor(request.body) },
    );
    const events = [validEvent()];
    const receipts = await client().send(events);
    expect(receipts.map((r) => r.eventId)).toEqual([events[0]!.id]);
    expect(api.seen).toHaveLength(2);
    expect(api.seen[1]!.body).toBe(api.seen[0]!.body);
    expect(sleeps[0]).toBeGreaterThanOrEqual(2000);
  });

  it('retries 429 and dropped connections with growing backoff', async () => {
    let calls = 0;
    api.answer(() => {
      calls += 1;
      if (calls === 1) return { status: 429, body: { error: { code: 'throttled', message: 'slow down' } } };
      if (calls === 2) return 'drop';
      return { status: 200, body: { logs: [] } };
    });
    expect(await client().listLogs()).toEqual([]);
    expect(calls).toBe(3);
    expect(sleeps).toEqual([100, 200]);
  });

  it('fails with AuditApiError after the last attempt', async () => {
    api.answer(() => ({ status: 502, body: { message: 'Internal server error' } }));
    const error = await client()
      .listLogs()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuditApiError);
    expect(error).toMatchObject({ status: 502, code: 'http_502', message: 'Internal server error' });
    expect(api.seen).toHaveLength(4);
  });

  it('does not retry a client error and reports its code, message and issues', async () => {
    const issues = [{ index: 0, path: 'actor.id', message: 'must not be empty' }];
    api.answer(() => ({
      status: 400,
      body: { error: { code: 'invalid_event', message: 'event 0 field actor.id', issues } },
    }));
    const error = await client()
      .postEvents([validEvent()])
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 400, code: 'invalid_event', issues });
    expect(api.seen).toHaveLength(1);
  });

  it('does not retry an integrity error: retrying cannot repair stored data', async () => {
    api.answer(() => ({
      status: 500,
      body: { error: { code: 'integrity_error', message: 'append 3 is missing' } },
    }));
    await expect(client().getEvent('x')).rejects.toMatchObject({ status: 500, code: 'integrity_error' });
    expect(api.seen).toHaveLength(1);
  });

  it('takes the error code from x-amzn-ErrorType when API Gateway answers', async () => {
    api.answer(() => ({
      status: 403,
      headers: { 'x-amzn-ErrorType': 'AccessDeniedException' },
      body: { message: 'denied' },
    }));
    await expect(client().listLogs()).rejects.toMatchObject({
      status: 403,
      code: 'AccessDeniedException',
      message: 'denied',
    });
  });

  it('fails validation before sending anything, naming index and path', async () => {
    const events = [validEvent(), validEvent({ actor: { type: 'user', id: '' } })];
    const error = await client()
      .send(events)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EventValidationError);
    expect((error as EventValidationError).issues).toEqual([
      { index: 1, path: 'actor.id', message: 'must not be empty' },
    ]);
    expect(api.seen).toHaveLength(0);
  });

  it('sends more than one batch of events and returns receipts in input order', async () => {
    api.answer((request) => ({ status: 201, body: receiptsFor(request.body) }));
    const events = Array.from({ length: 150 }, () => validEvent());
    const receipts = await client().send(events);
    expect(
      api.seen.map((request) => (JSON.parse(request.body) as { events: unknown[] }).events.length),
    ).toEqual([98, 52]);
    expect(receipts.map((r) => r.eventId)).toEqual(events.map((e) => e.id));
  });

  it('matches receipts to upper-case UUIDs, which the API stores in lower case', async () => {
    api.answer((request) => ({
      status: 201,
      body: {
        receipts: receiptsFor(request.body).receipts.map((r) => ({ ...r, eventId: r.eventId.toLowerCase() })),
      },
    }));
    const events = [validEvent({ id: randomUUID().toUpperCase() })];
    expect((await client().send(events)).map((r) => r.eventId)).toEqual([events[0]!.id.toLowerCase()]);
  });

  it('fails when the API returns receipts that do not match the events', async () => {
    api.answer(() => ({ status: 201, body: { receipts: [{ eventId: 'someone-else' }] } }));
    await expect(client().send([validEvent()])).rejects.toMatchObject({ code: 'invalid_response' });
  });

  it('pages through events with the cursor until there is none', async () => {
    api.answer((request) =>
      request.query.cursor === undefined
        ? { status: 200, body: { events: [{ id: 'a' }], nextCursor: 'c1' } }
        : { status: 200, body: { events: [{ id: 'b' }], nextCursor: null } },
    );
    const ids: unknown[] = [];
    for await (const page of client().listEvents({ action: 'deployment.apply' }))
      ids.push(...page.events.map((e) => e.id));
    expect(ids).toEqual(['a', 'b']);
    expect(api.seen[1]!.query).toEqual({ action: 'deployment.apply', cursor: 'c1', limit: '100' });
  });

  it('fails instead of looping when the API repeats a cursor', async () => {
    api.answer(() => ({ status: 200, body: { events: [], nextCursor: 'same' } }));
    const pages = async () => {
      for await (const _ of client().listEvents()) {
        // drain
      }
    };
    await expect(pages()).rejects.toMatchObject({ code: 'invalid_response' });
  });

  it('pages through appends with next', async () => {
    api.answer((request) =>
      request.query.from === '0'
        ? { status: 200, body: { appends: [{ start: 0 }, { start: 3 }], next: 5 } }
        : { status: 200, body: { appends: [{ start: 5 }], next: null } },
    );
    const starts: unknown[] = [];
    for await (const append of client().listAppends('o/t/0')) starts.push(append.start);
    expect(starts).toEqual([0, 3, 5]);
  });

  it('rejects an endpoint that is not an http(s) URL', () => {
    expect(() => new AuditClient({ endpoint: 'ftp://x', region: REGION, credentials: CREDENTIALS })).toThrow(
      /http/,
    );
  });
});

describe('backoffDelay', () => {
  const policy = { ...DEFAULT_RETRY, baseDelayMs: 100, maxDelayMs: 1000, random: () => 0.99 };

  it('grows exponentially up to the cap, with full jitter', () => {
    expect([1, 2, 3, 4, 5, 6].map((attempt) => backoffDelay(policy, attempt))).toEqual([
      99, 198, 396, 792, 990, 990,
    ]);
    expect(backoffDelay({ ...policy, random: () => 0 }, 5)).toBe(0);
  });

  it('never retries before Retry-After, and spreads clients told the same delay', () => {
    expect(backoffDelay({ ...policy, random: () => 0 }, 3, 1000)).toBe(1000);
    expect(backoffDelay(policy, 3, 1000)).toBe(1396);
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(
      parseRetryAfter('Wed, 21 Oct 2015 07:28:10 GMT', Date.parse('Wed, 21 Oct 2015 07:28:00 GMT')),
    ).toBe(10_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
  });
});
