import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LocalSigner } from '#adapters/local-signer.ts';
import { parseCheckpointBody } from '#core/checkpoint.ts';
import {
  ContentionError,
  EventConflictError,
  InvalidEventsError,
  InvalidRequestError,
  PayloadTooLargeError,
} from '#core/errors.ts';
import { createIngest, type IngestDeps, type IngestRequest } from '#core/ingest.ts';
import { CompactRange, toHex } from '#core/merkle.ts';
import type { AppendRecord } from '#core/ports.ts';
import { type Receipt, verifyReceipt } from '#core/receipt.ts';
import type { CallerIdentity } from '#core/record.ts';
import { type AuditEventInput, LIMITS } from '#core/schema.ts';
import { keyMap } from '#core/signer.ts';
import type { Caller } from '#core/tenancy.ts';
import { makeBatch, makeEvent } from '../support/events.ts';
import { MemoryLedgerStore } from '../support/memory-ledger-store.ts';
import { CountingSigner } from '../support/signers.ts';

const DEPLOYMENT_ORIGIN = 'audit.example.com';
const ORIGIN = `${DEPLOYMENT_ORIGIN}/acme/0`;
const key = LocalSigner.generate('p256');
const caller: Caller = { tenant: 'acme', shards: 1, roles: new Set(['writer']) };
const identity: CallerIdentity = {
  principalArn: 'arn:aws:sts::123456789012:assumed-role/AcmeDeployer/ci',
  accountId: '123456789012',
  sourceIp: '10.1.2.3',
  userAgent: 'audit-trail-cli/1.0',
};
const receivedAt = new Date('2026-01-31T12:00:01.250Z');

function setup(options: Partial<IngestDeps> = {}) {
  const store = new MemoryLedgerStore();
  const signer = new CountingSigner(key);
  let signed = 0;
  const ingest = createIngest({
    store,
    signer,
    deploymentOrigin: DEPLOYMENT_ORIGIN,
    pickShard: () => 0,
    onSigned: () => signed++,
    ...options,
  });
  const send = (events: unknown[], overrides: Partial<IngestRequest> = {}) =>
    ingest({ caller, identity, receivedAt, body: { events }, ...overrides });
  return { store, signer, ingest, send, signedHook: () => signed };
}

/** Verifies every receipt against the stored record, with only the public keys the store has registered. */
async function expectAllVerify(store: MemoryLedgerStore, receipts: readonly Receipt[], tenant = 'acme') {
  const keys = keyMap(await store.listKeys());
  expect(keys.get(key.keyId)?.publicKeyPem).toBe((await key.publicKey()).publicKeyPem);
  const stored = await store.getEvents(
    tenant,
    receipts.map((receipt) => receipt.eventId),
  );
  for (const receipt of receipts) {
    const record = stored.get(receipt.eventId)?.record;
    expect(record, `event ${receipt.eventId} is stored`).toBeDefined();
    const result = verifyReceipt(record!, receipt, keys);
    if (!result.ok) expect.fail(`receipt of ${receipt.eventId} fails ${result.check}: ${result.reason}`);
  }
}

async function allAppends(store: MemoryLedgerStore, origin = ORIGIN): Promise<AppendRecord[]> {
  const appends: AppendRecord[] = [];
  for (let from = 0; ; ) {
    const page = await store.listAppends(origin, from, 7);
    appends.push(...page.appends);
    if (page.next === undefined) return appends;
    from = page.next;
  }
}

describe('ingest', () => {
  it(`records a batch of ${LIMITS.maxBatchEvents} events with one signature and returns verifying receipts in input order`, async () => {
    const { store, signer, send, signedHook } = setup();
    const events = makeBatch(LIMITS.maxBatchEvents, 'full');
    const result = await send(events);
    expect(result.status).toBe('created');
    expect(result.appended).toBe(LIMITS.maxBatchEvents);
    expect(result.receipts.map((receipt) => receipt.eventId)).toEqual(events.map((event) => event.id));
    expect(result.receipts.map((receipt) => receipt.leafIndex)).toEqual(events.map((_, i) => i));
    expect(new Set(result.receipts.map((receipt) => receipt.checkpoint.body)).size).toBe(1);
    expect(parseCheckpointBody(result.receipts[0]!.checkpoint.body)).toMatchObject({
      origin: ORIGIN,
      size: LIMITS.maxBatchEvents,
    });
    expect(signer.signs).toBe(1);
    expect(signedHook()).toBe(1);
    expect(store.counters).toMatchObject({
      commitCalls: 1,
      commits: 1,
      itemsWritten: LIMITS.maxBatchEvents + 1 + 1,
    });
    await expectAllVerify(store, result.receipts);
  });

  it('stores the canonical record: client fields plus tenant, server receive time and the caller as API Gateway saw it', async () => {
    const { store, send } = setup();
    const event = makeEvent('record');
    await send([event]);
    const stored = (await store.getEvents('acme', [event.id])).get(event.id)!;
    expect(JSON.parse(stored.record)).toEqual({
      ...event,
      tenant: 'acme',
      receivedAt: '2026-01-31T12:00:01.250Z',
      caller: identity,
    });
    expect(stored.record).toMatch(/^\{"action":"deployment\.apply","actor":/);
    expect(stored).toMatchObject({ tenant: 'acme', origin: ORIGIN, leafIndex: 0, appendStart: 0 });
  });

  it('extends the log with each request: leaf indices continue and the append keeps the checkpoint it extended', async () => {
    const { store, send } = setup();
    const first = await send(makeBatch(3, 'first'));
    const second = await send(makeBatch(4, 'second'));
    expect(second.receipts.map((receipt) => receipt.leafIndex)).toEqual([3, 4, 5, 6]);
    const [a, b] = await allAppends(store);
    expect(a).toMatchObject({ start: 0, size: 3, previous: null, previousFrontier: [] });
    expect(b).toMatchObject({ start: 3, size: 7, previous: first.receipts[0]!.checkpoint });
    expect(b!.previousFrontier.map(toHex)).toEqual(a!.frontier.map(toHex));
    await expectAllVerify(store, [...first.receipts, ...second.receipts]);
  });

  it('appends to the shard it picks, naming the log <deployment origin>/<tenant>/<shard>', async () => {
    const { send } = setup({ pickShard: (shards) => shards - 1 });
    const result = await send([makeEvent('shard')], { caller: { ...caller, shards: 4 } });
    expect(result.receipts[0]!.origin).toBe(`${DEPLOYMENT_ORIGIN}/acme/3`);
  });

  describe('validation before anything is stored', () => {
    type Corruption = [name: string, path: string, apply: (event: Record<string, unknown>) => void];
    const corruptions: Corruption[] = [
      ['bad id', 'id', (e) => (e.id = 'nope')],
      ['bad time', 'time', (e) => (e.time = 'yesterday')],
      ['empty actor id', 'actor.id', (e) => ((e.actor as Record<string, unknown>).id = '')],
      ['unknown field', 'colour', (e) => (e.colour = 'red')],
      ['no resources', 'resources', (e) => (e.resources = [])],
      [
        'unknown resource field',
        'resources[0].owner',
        (e) => ((e.resources as Record<string, unknown>[])[0]!.owner = 'x'),
      ],
      [
        'unsafe metadata integer',
        'metadata.run',
        (e) => ((e.metadata as Record<string, unknown>).run = 2 ** 60),
      ],
    ];

    it('rejects a batch with an invalid event anywhere, naming its index and path; nothing is signed or stored', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.nat(LIMITS.maxBatchEvents - 1),
          fc.constantFrom(...corruptions),
          async (index, [, path, apply]) => {
            const { store, signer, send } = setup();
            const events = makeBatch(LIMITS.maxBatchEvents, 'invalid') as unknown as Record<
              string,
              unknown
            >[];
            apply(events[index]!);
            const error = await send(events).catch((e: unknown) => e);
            expect(error).toBeInstanceOf(InvalidEventsError);
            expect((error as InvalidEventsError).issues).toEqual([
              { index, path, message: expect.any(String) },
            ]);
            expect(signer.signs).toBe(0);
            expect(store.size).toBe(0);
            expect(store.counters.commitCalls).toBe(0);
          },
        ),
        { seed: 37, numRuns: 25 },
      );
    });

    it('rejects a batch reporting every invalid event, not just the first', async () => {
      const { send } = setup();
      const events = makeBatch(10, 'many') as unknown as Record<string, unknown>[];
      events[2]!.action = 'x';
      events[7]!.outcome = 'maybe';
      const error = (await send(events).catch((e: unknown) => e)) as InvalidEventsError;
      expect(error.issues.map((issue) => [issue.index, issue.path])).toEqual([
        [2, 'action'],
        [7, 'outcome'],
      ]);
    });

    it('rejects an id repeated within the batch, whatever its case, pointing at the first use', async () => {
      const { store, send } = setup();
      const events: AuditEventInput[] = makeBatch(5, 'dup');
      events[4] = { ...events[4]!, id: events[1]!.id.toUpperCase() };
      const error = (await send(events).catch((e: unknown) => e)) as InvalidEventsError;
      expect(error).toBeInstanceOf(InvalidEventsError);
      expect(error.issues).toEqual([
        { index: 4, path: 'id', message: 'repeats the id of event 1 in this batch' },
      ]);
      expect(store.size).toBe(0);
    });

    it(`rejects a record over ${LIMITS.maxRecordBytes} bytes, naming the event`, async () => {
      const { store, send } = setup();
      const big = 'x'.repeat(LIMITS.changeStringLength);
      const events = [makeEvent('small'), makeEvent('big', { change: { before: big, after: big } })];
      const error = (await send(events).catch((e: unknown) => e)) as InvalidEventsError;
      expect(error).toBeInstanceOf(InvalidEventsError);
      expect(error.issues).toEqual([
        { index: 1, path: '', message: expect.stringMatching(/bytes; the limit is 131072/) },
      ]);
      expect(store.size).toBe(0);
    });

    it(`rejects a batch whose records total more than ${LIMITS.maxBatchRecordBytes} bytes`, async () => {
      const { store, signer, send } = setup();
      const large = 'y'.repeat(60_000);
      const events = Array.from({ length: 60 }, (_, i) =>
        makeEvent(`large-${i}`, { change: { after: large } }),
      );
      await expect(send(events)).rejects.toThrow(PayloadTooLargeError);
      expect(signer.signs).toBe(0);
      expect(store.size).toBe(0);
    });

    it.each([
      ['a body that is an array', []],
      ['a body that is null', null],
      ['a body without events', {}],
      ['events that are not an array', { events: {} }],
      ['an empty batch', { events: [] }],
      ['a body with another field', { events: [makeEvent('x')], tenant: 'globex' }],
    ])('rejects %s', async (_name, body) => {
      const { ingest } = setup();
      await expect(ingest({ caller, identity, receivedAt, body })).rejects.toThrow(InvalidRequestError);
    });

    it(`rejects ${LIMITS.maxBatchEvents + 1} events as too large`, async () => {
      const { store, send } = setup();
      await expect(send(makeBatch(LIMITS.maxBatchEvents + 1, 'over'))).rejects.toThrow(PayloadTooLargeError);
      expect(store.size).toBe(0);
    });
  });

  describe('idempotency', () => {
    it('replays a retried batch: same receipts, no signature, no write', async () => {
      const { store, signer, send } = setup();
      const events = makeBatch(20, 'retry');
      const first = await send(events);
      const writes = { ...store.counters };
      const signs = signer.signs;
      const again = await send(events, {
        receivedAt: new Date('2026-02-01T00:00:00Z'),
        identity: { ...identity, sourceIp: '10.9.9.9' },
      });
      expect(again.status).toBe('replayed');
      expect(again.appended).toBe(0);
      expect(again.receipts).toEqual(first.receipts);
      expect(signer.signs).toBe(signs);
      expect(store.counters).toEqual(writes);
    });

    it('replays a retry that spells the ids in uppercase', async () => {
      const { send } = setup();
      const events = makeBatch(3, 'case');
      const first = await send(events);
      const again = await send(events.map((event) => ({ ...event, id: event.id.toUpperCase() })));
      expect(again.status).toBe('replayed');
      expect(again.receipts).toEqual(first.receipts);
    });

    it('replays receipts of events that arrived in different earlier requests', async () => {
      const { store, send } = setup();
      const a = await send(makeBatch(3, 'a'));
      const b = await send(makeBatch(5, 'b'));
      const again = await send([...makeBatch(5, 'b').slice(2), ...makeBatch(3, 'a').slice(0, 2)]);
      expect(again.status).toBe('replayed');
      expect(again.receipts).toEqual([...b.receipts.slice(2), ...a.receipts.slice(0, 2)]);
      await expectAllVerify(store, again.receipts);
    });

    it('rejects an id reused with other content (409), storing and signing nothing', async () => {
      const { store, signer, send } = setup();
      const event = makeEvent('conflict');
      await send([event]);
      const size = store.size;
      const signs = signer.signs;
      const error = await send([makeEvent('fresh'), { ...event, outcome: 'failure' }]).catch(
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(EventConflictError);
      expect((error as EventConflictError).eventIds).toEqual([event.id]);
      expect(store.size).toBe(size);
      expect(signer.signs).toBe(signs);
    });

    it('replays a retry whose fields come in another order (content is compared in canonical form)', async () => {
      const { send } = setup();
      const event = makeEvent('order');
      const first = await send([event]);
      const reordered = Object.fromEntries(Object.entries(event).reverse());
      await expect(send([reordered])).resolves.toEqual({
        status: 'replayed',
        receipts: first.receipts,
        appended: 0,
      });
    });

    it('rejects a retry that changes one nested value', async () => {
      const { send } = setup();
      const event = makeEvent('nested');
      await send([event]);
      await expect(send([{ ...event, metadata: { ...event.metadata, run: 1 } }])).rejects.toThrow(
        EventConflictError,
      );
    });

    it('keeps ids per tenant: another tenant may use the same id', async () => {
      const { store, send } = setup();
      const event = makeEvent('tenant');
      const acme = await send([event]);
      const globex = await send([event], {
        caller: { tenant: 'globex', shards: 1, roles: new Set(['writer']) },
      });
      expect(globex.status).toBe('created');
      expect(globex.receipts[0]!.origin).toBe(`${DEPLOYMENT_ORIGIN}/globex/0`);
      await expectAllVerify(store, acme.receipts, 'acme');
      await expectAllVerify(store, globex.receipts, 'globex');
    });

    it('appends only the new events of a mixed batch; the replayed ones keep their original receipts', async () => {
      const { store, signer, send } = setup();
      const old = makeBatch(6, 'old');
      const first = await send(old);
      const signs = signer.signs;
      const fresh = makeBatch(4, 'new');
      const mixed = [fresh[0]!, old[3]!, fresh[1]!, old[0]!, fresh[2]!, fresh[3]!];
      const result = await send(mixed);
      expect(result.status).toBe('created');
      expect(result.appended).toBe(4);
      expect(signer.signs).toBe(signs + 1);
      expect(result.receipts.map((receipt) => receipt.eventId)).toEqual(mixed.map((event) => event.id));
      expect(result.receipts[1]).toEqual(first.receipts[3]);
      expect(result.receipts[3]).toEqual(first.receipts[0]);
      expect([0, 2, 4, 5].map((i) => result.receipts[i]!.leafIndex)).toEqual([6, 7, 8, 9]);
      await expectAllVerify(store, result.receipts);
    });
  });

  describe('concurrency', () => {
    it('never forks the log under 20 concurrent requests on one shard: sizes chain and every checkpoint extends the one before', async () => {
      const { store, signer, ingest } = setup({ maxAttempts: 25 });
      const batches = Array.from({ length: 20 }, (_, i) => makeBatch(1 + (i % 5), `concurrent-${i}`));
      const results = await Promise.all(
        batches.map((events) => ingest({ caller, identity, receivedAt, body: { events } })),
      );
      expect(results.every((result) => result.status === 'created')).toBe(true);
      // The requests really raced: some lost, re-read the head and signed again.
      expect(store.counters.conflicts).toBeGreaterThan(0);
      expect(signer.signs).toBe(20 + store.counters.conflicts);

      const appends = await allAppends(store);
      expect(appends).toHaveLength(20);
      let previous: AppendRecord | undefined;
      const range = CompactRange.empty();
      const leafOrder: string[] = [];
      for (const append of appends) {
        expect(append.start).toBe(previous?.size ?? 0);
        expect(append.previous).toEqual(previous?.checkpoint ?? null);
        expect(append.previousFrontier.map(toHex)).toEqual((previous?.frontier ?? []).map(toHex));
        const stored = await store.getEvents('acme', append.eventIds);
        for (const id of append.eventIds) {
          range.append(stored.get(id)!.leafHash);
          leafOrder.push(id);
        }
        // Recomputing from the leaves in order must give exactly the signed root of each checkpoint.
        expect(toHex(range.root())).toBe(toHex(parseCheckpointBody(append.checkpoint.body).rootHash));
        expect(append.size).toBe(range.size);
        previous = append;
      }
      const allReceipts = results.flatMap((result) => result.receipts);
      expect(new Set(allReceipts.map((receipt) => receipt.leafIndex)).size).toBe(allReceipts.length);
      expect(leafOrder).toHaveLength(allReceipts.length);
      for (const receipt of allReceipts) expect(leafOrder[receipt.leafIndex]).toBe(receipt.eventId);
      await expectAllVerify(store, allReceipts);
    });

    it(`fails with ContentionError after maxAttempts lost races, storing nothing`, async () => {
      const { store, signer, send } = setup({ maxAttempts: 3 });
      store.loseNextCommits(3);
      await expect(send(makeBatch(2, 'contention'))).rejects.toThrow(ContentionError);
      expect(signer.signs).toBe(3);
      expect(store.counters).toMatchObject({ commitCalls: 3, commits: 0, conflicts: 3 });
      expect(store.size).toBe(1); // only the public key
    });

    it('wins on the attempt after the lost races, re-reading the moved head', async () => {
      const { store, signer, send } = setup({ maxAttempts: 5 });
      store.loseNextCommits(4);
      const result = await send(makeBatch(2, 'eventually'));
      expect(result.status).toBe('created');
      expect(signer.signs).toBe(5);
      await expectAllVerify(store, result.receipts);
    });

    it('replays the winner when a concurrent request records the same event between the read and the commit', async () => {
      const { store, ingest, send } = setup();
      const event = makeEvent('race');
      let competitor: Promise<unknown> | undefined;
      store.beforeCommit = async () => {
        if (competitor) return;
        competitor = ingest({ caller, identity, receivedAt, body: { events: [event] } });
        await competitor;
      };
      const result = await send([event]);
      const winner = (await competitor) as { receipts: Receipt[] };
      expect(result.status).toBe('replayed');
      expect(result.receipts).toEqual(winner.receipts);
      expect(store.counters.conflicts).toBe(1);
    });
  });

  it('calls the onSigned hook once per signature and registers the public key once', async () => {
    const { store, signer, send, signedHook } = setup();
    await send([makeEvent('hook-1')]);
    await send([makeEvent('hook-2')]);
    expect(signedHook()).toBe(2);
    expect(signer.publicKeyLookups).toBe(1);
    expect(store.counters.keysWritten).toBe(1);
  });
});
