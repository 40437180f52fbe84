import { beforeAll, describe, expect, it } from 'vitest';
import { LocalSigner } from '#adapters/local-signer.ts';
import { createIngest } from '#core/ingest.ts';
import { leafHash, toHex } from '#core/merkle.ts';
import { type Receipt, verifyReceipt } from '#core/receipt.ts';
import type { AuditEventInput } from '#core/schema.ts';
import { keyMap, type PublicKeyInfo } from '#core/signer.ts';
import { TenantsConfig } from '#core/tenancy.ts';
import { AppendWithLeavesJson } from '#core/wire.ts';
import { createReadHandler } from '../../lambdas/http/read.ts';
import { apiEvent, responseBody } from '../support/apigw.ts';
import { makeEvent } from '../support/events.ts';
import { MemoryLedgerStore } from '../support/memory-ledger-store.ts';

const ACCOUNT = '123456789012';
const DEPLOYMENT_ORIGIN = 'audit.example.com/prod';
const role = (name: string) => `arn:aws:iam::${ACCOUNT}:role/${name}`;
const session = (name: string) => `arn:aws:sts::${ACCOUNT}:assumed-role/${name}/s`;
const ACME = {
  writer: session('AcmeWriter'),
  reader: session('AcmeReader'),
  auditor: session('AcmeAuditor'),
};
const GLOBEX = { writer: session('GlobexWriter'), auditor: session('GlobexAuditor') };

const tenants = TenantsConfig.parse({
  tenants: [
    {
      name: 'acme',
      shards: 2,
      writers: [role('AcmeWriter')],
      readers: [role('AcmeReader')],
      auditors: [role('AcmeAuditor')],
    },
    { name: 'globex', writers: [role('GlobexWriter')], auditors: [role('GlobexAuditor')] },
  ],
});

const store = new MemoryLedgerStore();
const signer = LocalSigner.generate('p256');
let shard = 0;
const ingest = createIngest({ store, signer, deploymentOrigin: DEPLOYMENT_ORIGIN, pickShard: () => shard });
const handler = createReadHandler({
  store,
  tenants,
  deploymentOrigin: DEPLOYMENT_ORIGIN,
  openApi: () => ({ openapi: '3.1.0' }),
});

const get = (
  resource: string,
  principal: string,
  options: { path?: Record<string, string>; query?: Record<string, string> } = {},
) =>
  handler(
    apiEvent({
      method: 'GET',
      resource,
      principalArn: principal,
      contentType: null,
      ...(options.path ? { pathParameters: options.path } : {}),
      ...(options.query ? { query: options.query } : {}),
    }),
  );

const acmeEvents: AuditEventInput[] = Array.from({ length: 12 }, (_, i) =>
  makeEvent(`read-${i}`, {
    time: new Date(Date.UTC(2026, 0, 31, i)).toISOString(),
    actor: { type: 'user', id: i % 2 ? 'alice' : 'bob' },
    outcome: i % 3 ? 'success' : 'denied',
  }),
);
const globexEvent = makeEvent('read-globex');
const receipts = new Map<string, Receipt>();

beforeAll(async () => {
  const caller = (tenant: string, shards: number) => ({
    tenant,
    shards,
    roles: new Set(['writer' as const]),
  });
  const identity = { principalArn: ACME.writer, accountId: ACCOUNT, sourceIp: '10.0.0.1' };
  const receivedAt = new Date('2026-02-01T00:00:00Z');
  for (const [i, batch] of [acmeEvents.slice(0, 5), acmeEvents.slice(5, 9), acmeEvents.slice(9)].entries()) {
    shard = i === 2 ? 1 : 0;
    const result = await ingest({ caller: caller('acme', 2), identity, receivedAt, body: { events: batch } });
    for (const receipt of result.receipts) receipts.set(receipt.eventId, receipt);
  }
  shard = 0;
  await ingest({
    caller: caller('globex', 1),
    identity: { ...identity, principalArn: GLOBEX.writer },
    receivedAt,
    body: { events: [globexEvent] },
  });
});

async function publicKeys(principal: string) {
  const response = await get('/v1/public-keys', principal);
  expect(response.statusCode).toBe(200);
  return keyMap((responseBody(response) as { keys: PublicKeyInfo[] }).keys);
}

describe('GET /v1/events/{id}', () => {
  it('returns the record and a receipt that verifies with the served public keys', async () => {
    const id = acmeEvents[6]!.id;
    const response = await get('/v1/events/{id}', ACME.reader, { path: { id } });
    expect(response.statusCode).toBe(200);
    const { event, receipt } = responseBody(response);
    expect(event).toMatchObject({ ...acmeEvents[6], tenant: 'acme' });
    expect(receipt).toEqual(receipts.get(id));
    expect(verifyReceipt(event, receipt, await publicKeys(ACME.reader))).toEqual({ ok: true });
  });

  it('finds an event by its id spelled in uppercase', async () => {
    const id = acmeEvents[0]!.id;
    const response = await get('/v1/events/{id}', ACME.auditor, { path: { id: id.toUpperCase() } });
    expect(response.statusCode).toBe(200);
    expect(responseBody(response).event.id).toBe(id);
  });

  it("rejects another tenant's event id as not found (404)", async () => {
    const response = await get('/v1/events/{id}', GLOBEX.auditor, { path: { id: acmeEvents[0]!.id } });
    expect(response.statusCode).toBe(404);
    expect(responseBody(response).error.code).toBe('not_found');
  });

  it('rejects an unknown id as not found (404)', async () => {
    expect(
      (await get('/v1/events/{id}', ACME.reader, { path: { id: makeEvent('never').id } })).statusCode,
    ).toBe(404);
  });

  it('rejects a writer with 403', async () => {
    const response = await get('/v1/events/{id}', ACME.writer, { path: { id: acmeEvents[0]!.id } });
    expect(response.statusCode).toBe(403);
    expect(responseBody(response).error.code).toBe('forbidden');
  });
});

describe('GET /v1/events', () => {
  const ids = (response: { body: string }) =>
    (responseBody(response).events as { id: string }[]).map((event) => event.id);

  it("lists the caller's tenant only, newest first", async () => {
    const response = await get('/v1/events', ACME.reader);
    expect(response.statusCode).toBe(200);
    expect(ids(response)).toEqual(acmeEvents.map((event) => event.id).reverse());
    expect(responseBody(response).nextCursor).toBeNull();
  });

  it('filters by actor, outcome and time range', async () => {
    const response = await get('/v1/events', ACME.reader, {
      query: { actor: 'alice', outcome: 'success', from: '2026-01-31T02:00:00Z', to: '2026-01-31T08:00:00Z' },
    });
    expect(ids(response)).toEqual([acmeEvents[7]!.id, acmeEvents[5]!.id]);
  });

  it('pages with limit and nextCursor', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const response = await get('/v1/events', ACME.auditor, {
        query: { limit: '5', ...(cursor ? { cursor } : {}) },
      });
      expect(response.statusCode).toBe(200);
      seen.push(...ids(response));
      cursor = responseBody(response).nextCursor;
    } while (cursor);
    expect(seen).toEqual(acmeEvents.map((event) => event.id).reverse());
  });

  it("rejects another tenant's cursor with 400 invalid_cursor", async () => {
    const page = await get('/v1/events', ACME.reader, { query: { limit: '2' } });
    const response = await get('/v1/events', GLOBEX.auditor, {
      query: { cursor: responseBody(page).nextCursor },
    });
    expect(response.statusCode).toBe(400);
    expect(responseBody(response).error.code).toBe('invalid_cursor');
  });

  it.each([
    ['an unknown parameter', { tenant: 'globex' }, /tenant: is not known/],
    ['a limit of 0', { limit: '0' }, /limit/],
    ['a limit over 100', { limit: '101' }, /limit/],
    ['a time that is not RFC 3339', { from: 'yesterday' }, /from: must be an RFC 3339 date-time/],
    ['an unknown outcome', { outcome: 'maybe' }, /outcome/],
    [
      'from after to',
      { from: '2026-01-31T10:00:00Z', to: '2026-01-31T09:00:00Z' },
      /from: must not be after to/,
    ],
  ])('rejects %s with 400', async (_name, query, message) => {
    const response = await get('/v1/events', ACME.reader, { query });
    expect(response.statusCode).toBe(400);
    expect(responseBody(response).error).toMatchObject({
      code: 'invalid_request',
      message: expect.stringMatching(message),
    });
  });

  it('rejects a writer with 403', async () => {
    expect((await get('/v1/events', ACME.writer)).statusCode).toBe(403);
  });
});

describe('GET /v1/logs', () => {
  it("returns the latest signed checkpoint of each of the tenant's logs", async () => {
    const response = await get('/v1/logs', ACME.auditor);
    expect(response.statusCode).toBe(200);
    const { logs } = responseBody(response);
    expect(logs.map((log: { origin: string; size: number }) => [log.origin, log.size])).toEqual([
      [`${DEPLOYMENT_ORIGIN}/acme/0`, 9],
      [`${DEPLOYMENT_ORIGIN}/acme/1`, 3],
    ]);
    expect(logs[0].checkpoint.body).toBe(receipts.get(acmeEvents[8]!.id)!.checkpoint.body);
  });

  it('rejects a reader with 403 (auditors only)', async () => {
    expect((await get('/v1/logs', ACME.reader)).statusCode).toBe(403);
  });
});

describe('GET /v1/logs/{origin}/checkpoint', () => {
  it('returns the checkpoint of a log of the tenant (origin URL-encoded)', async () => {
    const origin = `${DEPLOYMENT_ORIGIN}/acme/1`;
    const response = await get('/v1/logs/{origin}/checkpoint', ACME.auditor, {
      path: { origin: encodeURIComponent(origin) },
    });
    expect(response.statusCode).toBe(200);
    expect(responseBody(response)).toEqual({
      origin,
      size: 3,
      checkpoint: receipts.get(acmeEvents[9]!.id)!.checkpoint,
    });
  });

  it.each([
    ["another tenant's origin", `${DEPLOYMENT_ORIGIN}/acme/0`],
    ['an origin whose tenant only starts like the caller', `${DEPLOYMENT_ORIGIN}/globex-eu/0`],
    ['another deployment', 'other.example.com/globex/0'],
    ['malformed percent-encoding', '%E0%A4%A'],
  ])('rejects %s as not found (404)', async (_name, origin) => {
    const response = await get('/v1/logs/{origin}/checkpoint', GLOBEX.auditor, {
      path: { origin: origin.includes('%') ? origin : encodeURIComponent(origin) },
    });
    expect(response.statusCode).toBe(404);
  });

  it('rejects a log of the tenant that has no checkpoint yet as not found (404)', async () => {
    const response = await get('/v1/logs/{origin}/checkpoint', ACME.auditor, {
      path: { origin: encodeURIComponent(`${DEPLOYMENT_ORIGIN}/acme/7`) },
    });
    expect(response.statusCode).toBe(404);
  });
});

describe('GET /v1/logs/{origin}/appends', () => {
  it('returns appends in order with their leaves, each leaf hash matching its record', async () => {
    const origin = `${DEPLOYMENT_ORIGIN}/acme/0`;
    const first = await get('/v1/logs/{origin}/appends', ACME.auditor, {
      path: { origin: encodeURIComponent(origin) },
      query: { limit: '1' },
    });
    expect(first.statusCode).toBe(200);
    const page = responseBody(first);
    expect(page.next).toBe(5);
    const [append] = page.appends;
    expect(AppendWithLeavesJson.parse(append)).toBeTruthy();
    expect(append).toMatchObject({ origin, start: 0, size: 5, previous: null });
    expect(append.leaves.map((leaf: { eventId: string }) => leaf.eventId)).toEqual(
      acmeEvents.slice(0, 5).map((event) => event.id),
    );
    const { canonicalize } = await import('#core/canonical.ts');
    for (const leaf of append.leaves) {
      expect(leaf.leafHash).toBe(toHex(leafHash(new TextEncoder().encode(canonicalize(leaf.record)))));
    }
    const second = responseBody(
      await get('/v1/logs/{origin}/appends', ACME.auditor, {
        path: { origin: encodeURIComponent(origin) },
        query: { from: '5' },
      }),
    );
    expect(second.appends.map((a: { start: number; size: number }) => [a.start, a.size])).toEqual([[5, 9]]);
    expect(second.appends[0].previous).toEqual(append.checkpoint);
  });

  it("rejects another tenant's log as not found (404)", async () => {
    const response = await get('/v1/logs/{origin}/appends', GLOBEX.auditor, {
      path: { origin: encodeURIComponent(`${DEPLOYMENT_ORIGIN}/acme/0`) },
    });
    expect(response.statusCode).toBe(404);
  });
});

describe('other routes', () => {
  it('serves the OpenAPI document to any configured role, writers included', async () => {
    const response = await get('/v1/openapi.json', ACME.writer);
    expect(response.statusCode).toBe(200);
    expect(responseBody(response)).toEqual({ openapi: '3.1.0' });
  });

  it('rejects an unconfigured principal with 403', async () => {
    expect((await get('/v1/public-keys', session('Stranger'))).statusCode).toBe(403);
  });

  it('rejects an unknown route with 404', async () => {
    expect((await get('/v1/secrets', ACME.auditor)).statusCode).toBe(404);
  });
});
