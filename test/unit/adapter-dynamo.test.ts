import {
  BatchGetItemCommand,
  DynamoDBClient,
  QueryCommand,
  TransactionCanceledException,
  TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import {
  appendFromItem,
  appendToItem,
  DynamoLedgerStore,
  eventFromItem,
  eventQueryInput,
  eventToItem,
  InvalidCursorError,
} from '#adapters/dynamo-ledger-store.ts';
import { LocalSigner } from '#adapters/local-signer.ts';
import { canonicalize } from '#core/canonical.ts';
import type { SignedCheckpoint } from '#core/checkpoint.ts';
import { createIngest } from '#core/ingest.ts';
import {
  appendSortKey,
  eventKey,
  LEDGER_INDEX_PROJECTION,
  LEDGER_INDEXES,
  logPartition,
} from '#core/ledger-layout.ts';
import { CompactRange, leafHash, toHex } from '#core/merkle.ts';
import {
  AppendConflictError,
  type AppendRecord,
  type EventQuery,
  type LedgerStore,
  type StoredEvent,
} from '#core/ports.ts';
import { verifyReceipt } from '#core/receipt.ts';
import { buildRecord } from '#core/record.ts';
import type { AuditEventInput } from '#core/schema.ts';
import { keyMap } from '#core/signer.ts';
import { makeBatch, makeEvent } from '../support/events.ts';
import { LEDGER_TABLE_DEFINITION, mockDynamoDb } from '../support/fake-dynamodb.ts';
import { MemoryLedgerStore } from '../support/memory-ledger-store.ts';

const TABLE = 'ledger-test';
const ORIGIN = 'audit.example.com/acme/0';
const { db, mock } = mockDynamoDb({ [TABLE]: LEDGER_TABLE_DEFINITION });
afterAll(() => mock.restore());

const client = new DynamoDBClient({ region: 'eu-west-1' });
const dynamoStore = () => new DynamoLedgerStore(client, TABLE);

const CHECKPOINT: SignedCheckpoint = {
  body: `${ORIGIN}\n3\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n`,
  keyId: 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
  algorithm: 'ECDSA_SHA_256',
  signature: 'MEUCIQDx',
};

const hashOf = (text: string) => leafHash(new TextEncoder().encode(text));

function storedEvent(
  event: AuditEventInput,
  leafIndex: number,
  appendStart: number,
  tenant = 'acme',
  origin = ORIGIN,
): StoredEvent {
  const record = canonicalize(
    buildRecord(event, {
      tenant,
      receivedAt: '2026-01-31T12:00:01.000Z',
      caller: {
        principalArn: 'arn:aws:iam::123456789012:role/W',
        accountId: '123456789012',
        sourceIp: '10.0.0.1',
      },
    }),
  );
  return { tenant, eventId: event.id, record, origin, leafIndex, appendStart, leafHash: hashOf(record) };
}

/** An append of `events` at `start` to a log whose earlier leaves are `earlier` (hashes). */
function appendOf(
  start: number,
  events: readonly StoredEvent[],
  previous: SignedCheckpoint | null = null,
  origin = ORIGIN,
): AppendRecord {
  const before = CompactRange.empty();
  for (let i = 0; i < start; i++) before.append(hashOf(`earlier ${i}`));
  const after = before.clone();
  for (const event of events) after.append(event.leafHash);
  return {
    origin,
    tenant: 'acme',
    start,
    size: start + events.length,
    previous,
    previousFrontier: before.frontier,
    checkpoint: CHECKPOINT,
    frontier: after.frontier,
    eventIds: events.map((event) => event.eventId),
  };
}

const hexes = (hashes: readonly Uint8Array[]) => hashes.map(toHex);
const normalise = (append: AppendRecord) => ({
  ...append,
  previousFrontier: hexes(append.previousFrontier),
  frontier: hexes(append.frontier),
});
const normaliseEvent = (event: StoredEvent) => ({ ...event, leafHash: toHex(event.leafHash) });

describe('DynamoDB item mapping', () => {
  it('round-trips an append record, packing frontiers as 32-byte and event ids as 16-byte binary', () => {
    const events = makeBatch(3, 'map').map((event, i) => storedEvent(event, 5 + i, 5));
    const append = appendOf(5, events, {
      ...CHECKPOINT,
      body: `${ORIGIN}\n5\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n`,
    });
    const item = appendToItem(append);
    expect(item.pk).toEqual({ S: logPartition(ORIGIN) });
    expect(item.sk).toEqual({ S: 'APPEND#0000000000000005' });
    expect(item.eventIds?.B).toHaveLength(3 * 16);
    expect(item.frontier?.B).toHaveLength(32 * append.frontier.length);
    expect(item.previousFrontier?.B).toHaveLength(32 * 2);
    expect(Buffer.from(item.eventIds!.B!.subarray(0, 16)).toString('hex')).toBe(
      events[0]!.eventId.replaceAll('-', ''),
    );
    expect(normalise(appendFromItem(structuredClone(item)))).toEqual(normalise(append));
  });

  it('round-trips the first append of a log (no previous checkpoint, empty frontier)', () => {
    const append = appendOf(0, [storedEvent(makeEvent('first'), 0, 0)]);
    const item = appendToItem(append);
    expect(item.previous).toBeUndefined();
    expect(normalise(appendFromItem(item))).toEqual(normalise(append));
  });

  it('unpacks event ids in lowercase, the form the schema stores', () => {
    const id = makeEvent('upper').id;
    const append = { ...appendOf(0, []), eventIds: [id.toUpperCase()] };
    expect(appendFromItem(appendToItem(append)).eventIds).toEqual([id]);
  });

  it('round-trips an event record with its index attributes', () => {
    const event = storedEvent(makeEvent('item', { time: '2026-01-31T13:30:00.5+01:30' }), 7, 5);
    const item = eventToItem(event);
    expect(item).toMatchObject({
      pk: { S: eventKey('acme', event.eventId).pk },
      sk: { S: 'EVENT' },
      gsiTenant: { S: 'acme' },
      gsiTime: { S: `2026-01-31T12:00:00.500Z#${event.eventId}` },
      gsiActor: { S: `acme#${JSON.parse(event.record).actor.id}` },
      gsiResource: { S: `acme#${JSON.parse(event.record).resources[0].id}` },
      action: { S: 'deployment.apply' },
      outcome: { S: 'success' },
      leafIndex: { N: '7' },
      appendStart: { N: '5' },
    });
    expect(normaliseEvent(eventFromItem(structuredClone(item)))).toEqual(normaliseEvent(event));
  });
});

describe('eventQueryInput', () => {
  const base: EventQuery = { tenant: 'acme', limit: 25 };

  it.each([
    ['the time index when no actor or resource is given', {}, LEDGER_INDEXES.byTime, 'acme'],
    ['the actor index for an actor', { actor: 'alice' }, LEDGER_INDEXES.byActor, 'acme#alice'],
    [
      'the resource index for a resource',
      { resource: 'stack/app' },
      LEDGER_INDEXES.byResource,
      'acme#stack/app',
    ],
    [
      'the actor index when both are given',
      { actor: 'alice', resource: 'stack/app' },
      LEDGER_INDEXES.byActor,
      'acme#alice',
    ],
  ] as const)('uses %s', (_name, filters, index, partition) => {
    const input = eventQueryInput(TABLE, { ...base, ...filters });
    expect(input).toMatchObject({
      TableName: TABLE,
      IndexName: index.indexName,
      KeyConditionExpression: `${index.partitionKey.name} = :p AND ${index.sortKey.name} BETWEEN :from AND :to`,
      ScanIndexForward: false,
      Limit: 25,
    });
    expect(input.ExpressionAttributeValues?.[':p']).toEqual({ S: partition });
    expect(input.ConsistentRead).toBeUndefined();
  });

  it('leaves the resource out of an actor query: byActor does not project gsiResource (the store matches records)', () => {
    const input = eventQueryInput(TABLE, { ...base, actor: 'alice', resource: 'stack/app' });
    expect(input.FilterExpression).toBeUndefined();
    expect(Object.keys(input.ExpressionAttributeValues ?? {}).sort()).toEqual([':from', ':p', ':to']);
  });

  it('sends no empty ExpressionAttributeNames map (DynamoDB rejects one)', () => {
    const input = eventQueryInput(TABLE, { ...base, actor: 'alice', resource: 'stack/app' });
    expect(input.ExpressionAttributeNames).toBeUndefined();
  });

  it('filters only on attributes the chosen index holds (its keys, the table keys or LEDGER_INDEX_PROJECTION)', () => {
    const combinations: Partial<EventQuery>[] = [
      { actor: 'a', resource: 'r', action: 'x.y', outcome: 'denied' },
      { resource: 'r', action: 'x.y', outcome: 'denied' },
      { action: 'x.y', outcome: 'denied' },
    ];
    for (const filters of combinations) {
      const input = eventQueryInput(TABLE, { ...base, ...filters });
      const index = Object.values(LEDGER_INDEXES).find(
        (candidate) => candidate.indexName === input.IndexName,
      )!;
      const held = new Set([
        'pk',
        'sk',
        index.partitionKey.name,
        index.sortKey.name,
        ...LEDGER_INDEX_PROJECTION.nonKeyAttributes,
      ]);
      const attributes = (input.FilterExpression ?? '')
        .split(' AND ')
        .map((clause) => clause.split(' = ')[0]!)
        .map((name) => input.ExpressionAttributeNames?.[name] ?? name);
      expect(attributes.length).toBeGreaterThan(0);
      for (const attribute of attributes)
        expect(held, `${input.IndexName} must hold ${attribute}`).toContain(attribute);
    }
  });

  it('filters action and outcome through attribute names (both are reserved words)', () => {
    const input = eventQueryInput(TABLE, { ...base, action: 'deployment.apply', outcome: 'denied' });
    expect(input.FilterExpression).toBe('#action = :action AND #outcome = :outcome');
    expect(input.ExpressionAttributeNames).toEqual({ '#action': 'action', '#outcome': 'outcome' });
  });

  it('bounds the sort key by UTC times, including every event of the last millisecond', () => {
    const input = eventQueryInput(TABLE, {
      ...base,
      from: '2026-01-31T13:00:00+01:00',
      to: '2026-01-31T12:30:00Z',
    });
    expect(input.ExpressionAttributeValues?.[':from']).toEqual({ S: '2026-01-31T12:00:00.000Z' });
    expect(input.ExpressionAttributeValues?.[':to']).toEqual({ S: '2026-01-31T12:30:00.000Z#~' });
    const open = eventQueryInput(TABLE, base);
    expect(open.ExpressionAttributeValues?.[':from']).toEqual({ S: '0' });
    expect(open.ExpressionAttributeValues?.[':to']).toEqual({ S: '~' });
  });

  it('accepts a cursor from the same partition as ExclusiveStartKey', () => {
    const key = {
      pk: { S: 'EVENT#acme#x' },
      sk: { S: 'EVENT' },
      gsiActor: { S: 'acme#alice' },
      gsiTime: { S: 't#x' },
    };
    const cursor = Buffer.from(JSON.stringify(key)).toString('base64url');
    expect(eventQueryInput(TABLE, { ...base, actor: 'alice', cursor }).ExclusiveStartKey).toEqual(key);
  });

  it.each([
    ['another tenant', { gsiTenant: { S: 'globex' } }, {}],
    ['another actor', { gsiActor: { S: 'acme#bob' } }, { actor: 'alice' }],
    ['another index', { gsiTenant: { S: 'acme' } }, { actor: 'alice' }],
  ])('rejects a cursor from %s', (_name, key, filters) => {
    const cursor = Buffer.from(
      JSON.stringify({ pk: { S: 'EVENT#globex#x' }, sk: { S: 'EVENT' }, ...key }),
    ).toString('base64url');
    expect(() => eventQueryInput(TABLE, { ...base, ...filters, cursor })).toThrow(InvalidCursorError);
  });

  it.each([
    'not base64 json',
    Buffer.from('null').toString('base64url'),
    Buffer.from('"x"').toString('base64url'),
  ])('rejects the malformed cursor %j', (cursor) => {
    expect(() => eventQueryInput(TABLE, { ...base, cursor })).toThrow(InvalidCursorError);
  });
});

/** The same behaviour from the DynamoDB adapter (over the fake) and from the in-memory store tests use. */
describe.each([
  ['DynamoLedgerStore (over the DynamoDB fake)', dynamoStore],
  ['MemoryLedgerStore', () => new MemoryLedgerStore()],
] as const)('%s', (_name, makeStore) => {
  let store: LedgerStore;
  beforeEach(() => {
    db.clear();
    mock.resetHistory();
    store = makeStore();
  });

  it('reads an empty head for a log that has no append', async () => {
    expect(await store.readHead(ORIGIN)).toEqual({ origin: ORIGIN, size: 0, frontier: [], checkpoint: null });
  });

  it('reads the newest append as the head', async () => {
    const first = [storedEvent(makeEvent('h1'), 0, 0)];
    const second = makeBatch(2, 'h2').map((event, i) => storedEvent(event, 1 + i, 1));
    await store.commitAppend(appendOf(0, first), first);
    const latest = appendOf(1, second, CHECKPOINT);
    await store.commitAppend(latest, second);
    const head = await store.readHead(ORIGIN);
    expect({ ...head, frontier: hexes(head.frontier) }).toEqual({
      origin: ORIGIN,
      size: 3,
      frontier: hexes(latest.frontier),
      checkpoint: CHECKPOINT,
    });
  });

  it('returns stored events by id, per tenant', async () => {
    const events = makeBatch(3, 'get').map((event, i) => storedEvent(event, i, 0));
    await store.commitAppend(appendOf(0, events), events);
    const found = await store.getEvents('acme', [
      events[2]!.eventId,
      events[0]!.eventId,
      events[0]!.eventId,
      makeEvent('absent').id,
    ]);
    expect([...found.keys()].sort()).toEqual([events[0]!.eventId, events[2]!.eventId].sort());
    expect(normaliseEvent(found.get(events[2]!.eventId)!)).toEqual(normaliseEvent(events[2]!));
    expect((await store.getEvents('globex', [events[0]!.eventId])).size).toBe(0);
  });

  it('fails with head_moved when the append position is taken, storing none of the events', async () => {
    const first = [storedEvent(makeEvent('a1'), 0, 0)];
    await store.commitAppend(appendOf(0, first), first);
    const rival = [storedEvent(makeEvent('a2'), 0, 0)];
    const error = await store.commitAppend(appendOf(0, rival), rival).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppendConflictError);
    expect((error as AppendConflictError).reason).toBe('head_moved');
    expect((await store.getEvents('acme', [rival[0]!.eventId])).size).toBe(0);
  });

  it('fails with duplicate_event when an event id exists, storing nothing', async () => {
    const first = [storedEvent(makeEvent('d1'), 0, 0)];
    await store.commitAppend(appendOf(0, first), first);
    const next = [storedEvent(makeEvent('d2'), 1, 1), storedEvent(makeEvent('d1'), 2, 1)];
    const error = await store.commitAppend(appendOf(1, next), next).catch((e: unknown) => e);
    expect((error as AppendConflictError).reason).toBe('duplicate_event');
    expect(await store.getAppend(ORIGIN, 1)).toBeUndefined();
    expect((await store.getEvents('acme', [next[0]!.eventId])).size).toBe(0);
    expect((await store.readHead(ORIGIN)).size).toBe(1);
  });

  it('lists appends in order, page by page', async () => {
    let start = 0;
    let previous: SignedCheckpoint | null = null;
    for (let i = 0; i < 5; i++) {
      const events = makeBatch(i + 1, `list-${i}`).map((event, j) => storedEvent(event, start + j, start));
      await store.commitAppend(appendOf(start, events, previous), events);
      previous = CHECKPOINT;
      start += events.length;
    }
    const first = await store.listAppends(ORIGIN, 0, 2);
    expect(first.appends.map((a) => [a.start, a.size])).toEqual([
      [0, 1],
      [1, 3],
    ]);
    expect(first.next).toBe(3);
    const second = await store.listAppends(ORIGIN, first.next!, 2);
    expect(second.appends.map((a) => a.start)).toEqual([3, 6]);
    const last = await store.listAppends(ORIGIN, second.next!, 2);
    expect(last.appends.map((a) => a.start)).toEqual([10]);
    expect(last.next).toBeUndefined();
    expect((await store.listAppends('audit.example.com/acme/1', 0, 10)).appends).toEqual([]);
  });

  it('registers a public key once and lists every key', async () => {
    const key = {
      keyId: 'arn:aws:kms:eu-west-1:123456789012:key/a',
      algorithm: 'ECDSA_SHA_256' as const,
      publicKeyPem: 'PEM-A',
    };
    await store.registerKey(key);
    await store.registerKey({ ...key, publicKeyPem: 'PEM-CHANGED' });
    await store.registerKey({ ...key, keyId: 'arn:aws:kms:eu-west-1:123456789012:key/b' });
    expect(await store.listKeys()).toEqual([
      key,
      { ...key, keyId: 'arn:aws:kms:eu-west-1:123456789012:key/b' },
    ]);
  });

  it('records, verifies and replays through the ingest use case, including ids sent in uppercase', async () => {
    const signer = LocalSigner.generate('p256');
    const ingest = createIngest({ store, signer, deploymentOrigin: 'audit.example.com', pickShard: () => 0 });
    const request = (events: AuditEventInput[]) => ({
      caller: { tenant: 'acme', shards: 1, roles: new Set(['writer' as const]) },
      identity: {
        principalArn: 'arn:aws:iam::123456789012:role/W',
        accountId: '123456789012',
        sourceIp: '10.0.0.1',
      },
      receivedAt: new Date('2026-01-31T12:00:00Z'),
      body: { events },
    });
    const events = makeBatch(98, 'dynamo').map((event, i) =>
      i % 2 ? { ...event, id: event.id.toUpperCase() } : event,
    );
    const created = await ingest(request(events));
    expect(created.status).toBe('created');
    const stored = await store.getEvents(
      'acme',
      created.receipts.map((receipt) => receipt.eventId),
    );
    const keys = keyMap(await store.listKeys());
    for (const receipt of created.receipts)
      expect(verifyReceipt(stored.get(receipt.eventId)!.record, receipt, keys)).toEqual({ ok: true });
    const replayed = await ingest(request(events));
    expect(replayed).toEqual({ status: 'replayed', receipts: created.receipts, appended: 0 });
  });

  describe('queryEvents', () => {
    const actors = ['alice', 'bob', 'carol'];
    const resources = ['stack/a', 'stack/b'];
    const outcomes = ['success', 'failure', 'denied'] as const;

    async function seed(target: LedgerStore) {
      const events = Array.from({ length: 30 }, (_, i) =>
        makeEvent(`query-${i}`, {
          time: new Date(Date.UTC(2026, 0, 1, 0, 0, 0) + i * 3_600_000).toISOString().replace('Z', '+00:00'),
          actor: { type: 'user', id: actors[i % 3]! },
          resources: [{ type: 'stack', id: resources[i % 2]! }],
          outcome: outcomes[i % 3]!,
          action: i % 4 === 0 ? 'policy.attach' : 'deployment.apply',
        }),
      );
      const stored = events.map((event, i) => storedEvent(event, i, 0));
      await target.commitAppend(appendOf(0, stored), stored);
      const other = [
        storedEvent(
          makeEvent('other-tenant', { actor: { type: 'user', id: 'alice' } }),
          0,
          0,
          'globex',
          'audit.example.com/globex/0',
        ),
      ];
      await target.commitAppend(
        { ...appendOf(0, other, null, 'audit.example.com/globex/0'), tenant: 'globex' },
        other,
      );
      return events;
    }

    async function pages(target: LedgerStore, query: Omit<EventQuery, 'tenant'>) {
      const ids: string[][] = [];
      let cursor: string | undefined;
      do {
        const page = await target.queryEvents({ tenant: 'acme', ...query, ...(cursor ? { cursor } : {}) });
        ids.push(page.events.map((event) => event.eventId));
        cursor = page.cursor;
      } while (cursor && ids.length < 50);
      return ids;
    }

    it('pages through a tenant newest first with a cursor, never into another tenant', async () => {
      const events = await seed(store);
      const result = await pages(store, { limit: 7 });
      expect(result.map((page) => page.length)).toEqual([7, 7, 7, 7, 2]);
      expect(result.flat()).toEqual(events.map((event) => event.id).reverse());
    });

    it.each([
      ['an actor', { actor: 'bob' }, (_: AuditEventInput, i: number) => i % 3 === 1],
      ['a resource', { resource: 'stack/b' }, (_: AuditEventInput, i: number) => i % 2 === 1],
      [
        'an actor and a resource',
        { actor: 'alice', resource: 'stack/a' },
        (_: AuditEventInput, i: number) => i % 6 === 0,
      ],
      ['an action', { action: 'policy.attach' }, (_: AuditEventInput, i: number) => i % 4 === 0],
      ['an outcome', { outcome: 'denied' }, (_: AuditEventInput, i: number) => i % 3 === 2],
      [
        'a time range',
        { from: '2026-01-01T05:00:00Z', to: '2026-01-01T09:00:00Z' },
        (_: AuditEventInput, i: number) => i >= 5 && i <= 9,
      ],
      [
        'a range given with offsets',
        { from: '2026-01-01T06:00:00+01:00', to: '2026-01-01T05:00:00-01:00' },
        (_: AuditEventInput, i: number) => i >= 5 && i <= 6,
      ],
    ])('filters by %s across pages', async (_name, filters, expected) => {
      const events = await seed(store);
      const result = await pages(store, { limit: 4, ...filters });
      expect(result.flat()).toEqual(
        events
          .filter(expected)
          .map((event) => event.id)
          .reverse(),
      );
    });

    it('rejects a cursor issued for another tenant', async () => {
      await seed(store);
      const page = await store.queryEvents({ tenant: 'acme', limit: 2 });
      await expect(store.queryEvents({ tenant: 'globex', limit: 2, cursor: page.cursor! })).rejects.toThrow(
        expect.objectContaining({ name: 'InvalidCursorError' }),
      );
    });
  });
});

describe('DynamoLedgerStore requests', () => {
  beforeEach(() => {
    db.clear();
    mock.resetHistory();
  });

  it('commits an append as one TransactWriteItems: the append record and each event, all conditional', async () => {
    const events = makeBatch(3, 'tx').map((event, i) => storedEvent(event, i, 0));
    await dynamoStore().commitAppend(appendOf(0, events), events);
    const calls = mock.commandCalls(TransactWriteItemsCommand);
    expect(calls).toHaveLength(1);
    const items = calls[0]!.args[0].input.TransactItems!;
    expect(items).toHaveLength(4);
    expect(items.every((item) => item.Put?.ConditionExpression === 'attribute_not_exists(pk)')).toBe(true);
    expect(items[0]!.Put!.Item!.sk).toEqual({ S: appendSortKey(0) });
  });

  it('reports a cancelled transaction as AppendConflictError with the SDK exception as its cause', async () => {
    const events = [storedEvent(makeEvent('cause'), 0, 0)];
    await dynamoStore().commitAppend(appendOf(0, events), events);
    const error = (await dynamoStore()
      .commitAppend(appendOf(0, events), events)
      .catch((e: unknown) => e)) as AppendConflictError;
    expect(error.cause).toBeInstanceOf(TransactionCanceledException);
    expect(
      (error.cause as TransactionCanceledException).CancellationReasons?.map((reason) => reason.Code),
    ).toEqual(['ConditionalCheckFailed', 'ConditionalCheckFailed']);
    expect(error.reason).toBe('duplicate_event');
  });

  it('reads events in BatchGetItem chunks of 100 and retries unprocessed keys', async () => {
    const events = makeBatch(98, 'chunk-a').map((event, i) => storedEvent(event, i, 0));
    const more = makeBatch(50, 'chunk-b').map((event, i) => storedEvent(event, 98 + i, 98));
    await dynamoStore().commitAppend(appendOf(0, events), events);
    await dynamoStore().commitAppend(appendOf(98, more), more);
    db.holdBackNextBatchGet(30);
    mock.resetHistory();
    const found = await dynamoStore().getEvents(
      'acme',
      [...events, ...more].map((event) => event.eventId),
    );
    expect(found.size).toBe(148);
    const calls = mock
      .commandCalls(BatchGetItemCommand)
      .map((call) => call.args[0].input.RequestItems![TABLE]!);
    expect(calls.map((request) => request.Keys!.length)).toEqual([100, 30, 48]);
    expect(calls.every((request) => request.ConsistentRead === true)).toBe(true);
  });

  it('reads the head with one strongly consistent Query for the newest append', async () => {
    await dynamoStore().readHead(ORIGIN);
    const input = mock.commandCalls(QueryCommand)[0]!.args[0].input;
    expect(input).toMatchObject({ ConsistentRead: true, ScanIndexForward: false, Limit: 1 });
  });
});
