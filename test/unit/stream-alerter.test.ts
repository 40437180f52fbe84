import { FullBatchFailureError } from '@aws-lambda-powertools/batch';
import { EventBridgeClient, PutEventsCommand, type PutEventsCommandInput } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendFromItem, eventFromItem, eventToItem } from '#adapters/dynamo-ledger-store.ts';
import { chunkEntries, EventBridgeBus, entrySize, PUT_EVENTS_MAX_BYTES } from '#adapters/eventbridge-bus.ts';
import { AUDIT_EVENT_DETAIL_TYPE, AUDIT_SOURCE, EntriesNotPublishedError } from '#core/alert-rules.ts';
import { createAlerter } from '../../lambdas/streams/alerter.ts';
import {
  buildLedger,
  deliverLikeLambda,
  failedSequences,
  insertsOf,
  originOf,
  sequencesOf,
  streamEvent,
  streamRecord,
  TENANT,
} from './stream-fixtures.ts';

const eventBridge = mockClient(EventBridgeClient);
const codec = { eventFromItem, appendFromItem };
const BUS = 'audit-bus';

const bus = () => new EventBridgeBus(new EventBridgeClient({ region: 'eu-west-1' }), BUS, { baseDelayMs: 0 });
const alerter = () => createAlerter({ bus: bus(), codec });

const calls = () =>
  eventBridge.commandCalls(PutEventsCommand).map((call) => call.args[0].input as PutEventsCommandInput);
const published = () => calls().flatMap((input) => input.Entries ?? []);
const accepted = (count: number) => ({
  FailedEntryCount: 0,
  Entries: Array.from({ length: count }, (_, i) => ({ EventId: `id-${i}` })),
});

beforeEach(() => {
  eventBridge.reset();
  eventBridge
    .on(PutEventsCommand)
    .callsFake((input: PutEventsCommandInput) => accepted(input.Entries?.length ?? 0));
});
afterEach(() => eventBridge.reset());

describe('alerter', () => {
  it('publishes one Audit Event Recorded entry per inserted event record, with the stable detail', async () => {
    const ledger = await buildLedger([2, 1]);
    const response = await alerter()(streamEvent(insertsOf(ledger)));
    expect(failedSequences(response)).toEqual([]);
    const entries = published();
    expect(entries).toHaveLength(3);
    for (const [i, entry] of entries.entries()) {
      const event = ledger.events[i]!;
      expect(entry).toMatchObject({
        EventBusName: BUS,
        Source: AUDIT_SOURCE,
        DetailType: AUDIT_EVENT_DETAIL_TYPE,
      });
      expect(JSON.parse(entry.Detail!)).toEqual({
        tenant: TENANT,
        origin: originOf(),
        leafIndex: event.leafIndex,
        eventId: event.eventId,
        record: JSON.parse(event.record),
      });
      expect(entry.Time).toEqual(new Date(JSON.parse(event.record).receivedAt));
    }
  });

  it('publishes nothing for appends, keys, TTL updates and TTL expiry', async () => {
    const ledger = await buildLedger([1]);
    const event = ledger.events[0]!;
    const records = [
      streamRecord({ append: ledger.appends[0]! }),
      streamRecord({ key: ledger.key }),
      streamRecord({ item: { ...eventToItem(event), expiresAt: { N: '1780000000' } } }, 'MODIFY'),
      streamRecord({ event }, 'REMOVE'),
    ];
    expect(failedSequences(await alerter()(streamEvent(records)))).toEqual([]);
    expect(calls()).toEqual([]);
  });

  it('sends at most ten entries per PutEvents call, in stream order', async () => {
    const ledger = await buildLedger([25]);
    await alerter()(streamEvent(ledger.events.map((event) => streamRecord({ event }))));
    expect(calls().map((input) => input.Entries!.length)).toEqual([10, 10, 5]);
    expect(published().map((entry) => JSON.parse(entry.Detail!).leafIndex)).toEqual(
      ledger.events.map((event) => event.leafIndex),
    );
  });

  it('retries only the entries PutEvents reported failed', async () => {
    const ledger = await buildLedger([4]);
    eventBridge
      .on(PutEventsCommand)
      .resolvesOnce({
        FailedEntryCount: 2,
        Entries: [
          { EventId: 'a' },
          { ErrorCode: 'ThrottlingException', ErrorMessage: 'slow down' },
          { EventId: 'c' },
          { ErrorCode: 'InternalFailure' },
        ],
      })
      .resolves(accepted(2));
    const response = await alerter()(streamEvent(ledger.events.map((event) => streamRecord({ event }))));
    expect(failedSequences(response)).toEqual([]);
    const [first, retry] = calls();
    expect(first!.Entries).toHaveLength(4);
    expect(retry!.Entries!.map((entry) => JSON.parse(entry.Detail!).leafIndex)).toEqual([1, 3]);
  });

  it('reports the first entry EventBridge never accepted and every later record as failed', async () => {
    const ledger = await buildLedger([12]);
    const records = ledger.events.map((event) => streamRecord({ event }));
    // Entry 3 of the first call fails on every attempt; the second call (entries 10, 11) is never made.
    eventBridge.on(PutEventsCommand).callsFake((input: PutEventsCommandInput) => ({
      FailedEntryCount: 1,
      Entries: input.Entries!.map((entry) =>
        JSON.parse(entry.Detail!).leafIndex === 3 ? { ErrorCode: 'InternalFailure' } : { EventId: 'ok' },
      ),
    }));
    const response = await alerter()(streamEvent(records));
    expect(failedSequences(response)).toEqual(sequencesOf(records.slice(3)));
    expect(
      calls().every((input) => input.Entries!.every((entry) => JSON.parse(entry.Detail!).leafIndex < 10)),
    ).toBe(true);
  });

  it('fails a poison record and publishes nothing at or after it', async () => {
    const ledger = await buildLedger([3]);
    const poison = streamRecord({ item: { ...eventToItem(ledger.events[1]!), record: { S: '[1,2]' } } });
    const records = [
      streamRecord({ event: ledger.events[0]! }),
      poison,
      streamRecord({ event: ledger.events[2]! }),
    ];
    const response = await alerter()(streamEvent(records));
    expect(failedSequences(response)).toEqual(sequencesOf(records.slice(1)));
    expect(published().map((entry) => JSON.parse(entry.Detail!).leafIndex)).toEqual([0]);
  });

  it('publishes every good record exactly once when bisect and retries isolate a poison record', async () => {
    const ledger = await buildLedger([6]);
    const records = ledger.events.map((event) => streamRecord({ event }));
    const poison = streamRecord({ item: { pk: { S: `EVENT#${TENANT}#x` }, sk: { S: 'EVENT' } } });
    records.splice(2, 0, poison);
    const deadLetters = await deliverLikeLambda((event) => alerter()(event), records);
    expect(sequencesOf(deadLetters)).toEqual(sequencesOf([poison]));
    const leaves = published().map((entry) => JSON.parse(entry.Detail!).leafIndex);
    expect(leaves.sort()).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('rejects the invocation when its only record is poison', async () => {
    const poison = streamRecord({ item: { pk: { S: `EVENT#${TENANT}#x` }, sk: { S: 'EVENT' } } });
    await expect(alerter()(streamEvent([poison]))).rejects.toBeInstanceOf(FullBatchFailureError);
  });
});

describe('EventBridgeBus', () => {
  it('names every entry not accepted after its attempts, including those of calls never made', async () => {
    eventBridge.on(PutEventsCommand).rejects(new Error('AccessDeniedException'));
    const entries = Array.from({ length: 12 }, (_, i) => ({
      source: AUDIT_SOURCE,
      detailType: 'x',
      detail: { i },
    }));
    const error = await bus()
      .publish(entries)
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(EntriesNotPublishedError);
    expect((error as EntriesNotPublishedError).failed).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(calls()).toHaveLength(4); // one call, retried 3 times; the second chunk is not attempted
  });

  it('counts entry sizes as EventBridge does and splits calls at 256 KB', () => {
    const detail = 'x'.repeat(100 * 1024);
    const request = {
      Source: 'audit-trail',
      DetailType: 'Audit Event Recorded',
      Detail: detail,
      Time: new Date(),
    };
    expect(entrySize(request)).toBe(14 + 11 + 20 + detail.length);
    expect(chunkEntries([request, request, request, request])).toEqual([
      [0, 1],
      [2, 3],
    ]);
    expect(2 * entrySize(request)).toBeLessThanOrEqual(PUT_EVENTS_MAX_BYTES);
  });
});
