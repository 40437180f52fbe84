import { describe, expect, it } from 'vitest';
import { appendFromItem, eventFromItem } from '#adapters/dynamo-ledger-store.ts';
import { INTEGRITY_VIOLATION_DETAIL_TYPE } from '#core/alert-rules.ts';
import {
  type IntegrityViolation,
  type LogReport,
  type ResumableArchive,
  runIntegrityMonitor,
} from '#core/integrity-monitor.ts';
import type { AppendRecord, BusEntry, EventBus, LedgerStore } from '#core/ports.ts';
import { clientFields } from '#core/record.ts';
import { INTEGRITY_VIOLATION_ACTION } from '#core/report-queries.ts';
import { AuditEventInput } from '#core/schema.ts';
import type { Signer } from '#core/signer.ts';
import { TenantsConfig } from '#core/tenancy.ts';
import {
  createViolationRecorder,
  MONITOR_ACTOR_ID,
  parseLogOrigin,
  recordWindow,
  type ViolationRecorderDeps,
  violationEvent,
  violationEventId,
} from '#core/violation-recorder.ts';
import { createArchiver } from '../../lambdas/streams/archiver.ts';
import { makeEvent } from '../support/events.ts';
import type { MemoryLedgerStore } from '../support/memory-ledger-store.ts';
import {
  buildLedger,
  DEPLOYMENT_ORIGIN,
  insertsOf,
  type Ledger,
  originOf,
  signer,
  streamEvent,
  TENANT,
} from './stream-fixtures.ts';

const SHARD0 = originOf(0);
const SHARD1 = originOf(1);
const ROLE_ARN = 'arn:aws:iam::123456789012:role/audit-trail-monitor';
const DETECTED = new Date('2026-03-01T10:05:00.000Z');
const tenants = (shards: number) =>
  TenantsConfig.parse({
    tenants: [
      { name: TENANT, shards },
      { name: 'other', shards: 1 },
    ],
  });

class MemoryArchive implements ResumableArchive {
  readonly objects = new Map<string, Uint8Array>();
  async put(key: string, body: Uint8Array) {
    this.objects.set(key, body);
  }
  async get(key: string) {
    return this.objects.get(key);
  }
  async *list(prefix: string, options: { startAfter?: string } = {}) {
    yield* [...this.objects.keys()]
      .filter(
        (key) => key.startsWith(prefix) && (options.startAfter === undefined || key > options.startAfter),
      )
      .sort();
  }
}

class RecordingBus implements EventBus {
  readonly entries: BusEntry[] = [];
  failNext = false;
  async publish(entries: readonly BusEntry[]) {
    if (this.failNext) {
      this.failNext = false;
      throw new Error('PutEvents throttled');
    }
    this.entries.push(...entries);
  }
}

/**
 * The ledger with some appends' records deleted, as an attacker with table write access leaves it (a rolled-
 * back head when the last append of a log is hidden). Writes go through, so the recorder can append.
 */
class RolledBackStore implements LedgerStore {
  readonly hidden = new Set<string>();
  constructor(private readonly inner: MemoryLedgerStore) {}
  hide(append: AppendRecord) {
    this.hidden.add(`${append.origin}#${append.start}`);
  }
  private async all(origin: string) {
    const { appends } = await this.inner.listAppends(origin, 0, 1_000_000);
    return appends.filter((append) => !this.hidden.has(`${origin}#${append.start}`));
  }
  async readHead(origin: string) {
    const last = (await this.all(origin)).at(-1);
    return last
      ? { origin, size: last.size, frontier: last.frontier, checkpoint: last.checkpoint }
      : { origin, size: 0, frontier: [], checkpoint: null };
  }
  getEvents = (tenant: string, ids: readonly string[]) => this.inner.getEvents(tenant, ids);
  async getAppend(origin: string, start: number) {
    return (await this.all(origin)).find((append) => append.start === start);
  }
  async listAppends(origin: string, fromStart: number, limit: number) {
    const appends = (await this.all(origin)).filter((append) => append.start >= fromStart).slice(0, limit);
    const last = appends.at(-1);
    return { appends, ...(appends.length === limit && last ? { next: last.size } : {}) };
  }
  commitAppend = (append: AppendRecord, events: Parameters<LedgerStore['commitAppend']>[1]) =>
    this.inner.commitAppend(append, events);
  registerKey: LedgerStore['registerKey'] = (key) => this.inner.registerKey(key);
  listKeys = () => this.inner.listKeys();
  queryEvents: LedgerStore['queryEvents'] = (query) => this.inner.queryEvents(query);
}

async function archiveOf(ledger: Ledger) {
  const archive = new MemoryArchive();
  await createArchiver({ archive, codec: { eventFromItem, appendFromItem } })(streamEvent(insertsOf(ledger)));
  return archive;
}

/** Tenant acme with shard 0 (three appends) and shard 1 (one), archived; shard 0's head then rolled back. */
async function tamperedTrail(shards = 2) {
  const ledger = await buildLedger([2, 2, 2]);
  if (shards > 1) await ledger.ingest([makeEvent('shard-1-a')], { shard: 1 });
  const archive = await archiveOf(ledger);
  const store = new RolledBackStore(ledger.store);
  const last = ledger.appends.filter((append) => append.origin === SHARD0).at(-1)!;
  store.hide(last);
  return { ledger, archive, store, rolledBackTo: last.start };
}

function setup(
  store: LedgerStore,
  archive: MemoryArchive,
  options: { shards?: number; recorder?: Partial<ViolationRecorderDeps> } = {},
) {
  const shards = options.shards ?? 2;
  const bus = new RecordingBus();
  const recordViolations = createViolationRecorder({
    store,
    signer,
    deploymentOrigin: DEPLOYMENT_ORIGIN,
    tenants: tenants(shards),
    identity: { principalArn: ROLE_ARN, accountId: '123456789012' },
    clock: () => new Date('2026-03-01T10:05:01.000Z'),
    ...options.recorder,
  });
  const origins = Array.from({ length: shards }, (_, shard) => originOf(shard));
  const run = (detectedAt = DETECTED) =>
    runIntegrityMonitor({ store, archive, bus, origins, clock: () => detectedAt, recordViolations });
  return { bus, run };
}

async function storedRecord(store: LedgerStore, eventId: string) {
  const stored = (await store.getEvents(TENANT, [eventId])).get(eventId);
  expect(stored, `event ${eventId} is stored`).toBeDefined();
  return { stored: stored!, record: JSON.parse(stored!.record) as Record<string, unknown> };
}

describe('violation events', () => {
  const violation: IntegrityViolation = {
    origin: SHARD0,
    check: 'missing-leaf',
    leafIndex: 4,
    eventId: '0f8e6f52-3c1c-4a5e-9a43-1d0f3c1b7e11',
    message: 'leaf 4 (event 0f8e…) is missing from the table',
  };

  it('is a valid AuditEventInput with the documented shape', () => {
    const window = recordWindow(DETECTED);
    const id = violationEventId({ tenant: TENANT, ...violation, window });
    const event = violationEvent(violation, { id, detectedAt: DETECTED, window });
    expect(AuditEventInput.parse(event)).toEqual(event);
    expect(event).toEqual({
      id,
      time: '2026-03-01T10:05:00.000Z',
      action: INTEGRITY_VIOLATION_ACTION,
      category: 'system',
      outcome: 'failure',
      actor: { type: 'system', id: MONITOR_ACTOR_ID },
      resources: [{ type: 'audit-log', id: SHARD0 }],
      source: { system: 'audit-trail' },
      change: { summary: violation.message },
      metadata: {
        check: 'missing-leaf',
        leafIndex: 4,
        eventId: violation.eventId,
        window: '2026-03-01T00:00:00.000Z',
      },
    });
  });

  it('stays valid when the violation quotes hostile table content', () => {
    const hostile: IntegrityViolation = {
      origin: SHARD0,
      check: 'event-id',
      leafIndex: 7,
      eventId: `\uD800${'x'.repeat(5000)}`,
      message: `record ${'\uDC00'.repeat(3)} ${'y'.repeat(10_000)}`,
    };
    const window = recordWindow(DETECTED);
    const event = violationEvent(hostile, {
      id: violationEventId({ tenant: TENANT, ...hostile, window }),
      detectedAt: DETECTED,
      window,
    });
    expect(AuditEventInput.safeParse(event).success).toBe(true);
    expect(event.change!.summary!.length).toBeLessThanOrEqual(4096);
  });

  it('has a deterministic name-based UUID per finding and window', () => {
    const window = recordWindow(DETECTED);
    const key = { tenant: TENANT, origin: SHARD0, check: 'truncated', leafIndex: 4, window };
    const id = violationEventId(key);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(violationEventId({ ...key })).toBe(id);
    // Same window: the same id, whatever the hour.
    expect(violationEventId({ ...key, window: recordWindow(new Date('2026-03-01T23:59:59.999Z')) })).toBe(id);
    for (const other of [
      { ...key, window: recordWindow(new Date('2026-03-02T00:00:00.000Z')) },
      { ...key, check: 'fork' },
      { ...key, leafIndex: 5 },
      { ...key, leafIndex: undefined },
      { ...key, origin: SHARD1 },
      { ...key, tenant: 'other' },
      { ...key, occurrence: 1 },
    ]) {
      expect(violationEventId(other)).not.toBe(id);
    }
  });

  it('reads the tenant and shard of a log origin', () => {
    expect(parseLogOrigin('a.example/dev', 'a.example/dev/acme/3')).toEqual({ tenant: 'acme', shard: 3 });
    expect(parseLogOrigin('a.example/dev', 'keys')).toBeUndefined();
    expect(parseLogOrigin('a.example/dev', 'b.example/dev/acme/3')).toBeUndefined();
    expect(parseLogOrigin('a.example/dev', 'a.example/dev/acme/x')).toBeUndefined();
  });
});

describe('integrity monitor: violations recorded in the trail', () => {
  it('records a rolled-back head as an integrity.violation event in a clean log of the tenant', async () => {
    const { store, archive, rolledBackTo } = await tamperedTrail();
    const { bus, run } = setup(store, archive);
    const summary = await run();

    expect(summary.violations).toEqual([
      expect.objectContaining({ origin: SHARD0, check: 'truncated', leafIndex: rolledBackTo }),
    ]);
    expect(bus.entries.map((entry) => entry.detailType)).toEqual([INTEGRITY_VIOLATION_DETAIL_TYPE]);
    expect(summary.recording?.failed).toEqual([]);
    const [recorded] = summary.recording!.recorded;
    expect(recorded).toEqual({
      origin: SHARD0,
      check: 'truncated',
      leafIndex: rolledBackTo,
      tenant: TENANT,
      eventId: violationEventId({
        tenant: TENANT,
        origin: SHARD0,
        check: 'truncated',
        leafIndex: rolledBackTo,
        window: recordWindow(DETECTED),
      }),
      // Never the violated log: shard 1 verified clean, and holds one event before this one.
      recordedIn: SHARD1,
      recordedLeafIndex: 1,
      status: 'recorded',
    });

    const { stored, record } = await storedRecord(store, recorded!.eventId);
    expect(stored.origin).toBe(SHARD1);
    expect(AuditEventInput.safeParse(clientFields(record)).success).toBe(true);
    expect(record).toMatchObject({
      category: 'system',
      action: 'integrity.violation',
      outcome: 'failure',
      time: DETECTED.toISOString(),
      actor: { type: 'system', id: MONITOR_ACTOR_ID },
      resources: [{ type: 'audit-log', id: SHARD0 }],
      source: { system: 'audit-trail' },
      change: { summary: summary.violations[0]!.message },
      metadata: { check: 'truncated', leafIndex: rolledBackTo },
      tenant: TENANT,
      receivedAt: '2026-03-01T10:05:01.000Z',
      caller: { principalArn: ROLE_ARN, accountId: '123456789012', sourceIp: 'monitor' },
    });
    // Shard 0 was not extended: still rolled back, nothing signed on top of it.
    expect((await store.readHead(SHARD0)).size).toBe(rolledBackTo);
  });

  it('leaves the log holding the events verifiable: the next run verifies it clean, signature included', async () => {
    const { store, archive } = await tamperedTrail();
    const { run } = setup(store, archive);
    await run();
    const next = await run(new Date(DETECTED.getTime() + 60_000));
    expect(next.logs.find((log) => log.origin === SHARD1)).toMatchObject({
      status: 'ok',
      tableSize: 2,
      verifiedTo: 2,
    });
    expect(next.violations.map((violation) => violation.origin)).toEqual([SHARD0]);
  });

  it('records a finding once per window: a re-run (same or later time that day) stores nothing new', async () => {
    const { store, archive } = await tamperedTrail();
    const { bus, run } = setup(store, archive);
    const first = (await run()).recording!.recorded[0]!;

    const replay = await run();
    const later = await run(new Date('2026-03-01T18:00:00.000Z'));
    for (const summary of [replay, later]) {
      expect(summary.recording).toEqual({
        recorded: [{ ...first, status: 'already-recorded' }],
        failed: [],
      });
    }
    expect((await store.readHead(SHARD1)).size).toBe(2);
    // The bus entry and the metric are per run, not per window.
    expect(bus.entries).toHaveLength(3);

    const nextDay = await run(new Date('2026-03-02T00:10:00.000Z'));
    const again = nextDay.recording!.recorded[0]!;
    expect(again.status).toBe('recorded');
    expect(again.eventId).not.toBe(first.eventId);
    expect((await store.readHead(SHARD1)).size).toBe(3);
  });

  it('still publishes, and reports the violation as not recorded, when recording fails', async () => {
    const { store, archive } = await tamperedTrail();
    const failingSigner: Signer = {
      sign: () => Promise.reject(new Error('KMS AccessDeniedException')),
      publicKey: (keyId) => signer.publicKey(keyId),
    };
    const { bus, run } = setup(store, archive, { recorder: { signer: failingSigner } });
    const summary = await run();
    expect(bus.entries).toHaveLength(1);
    expect(summary.violations).toHaveLength(1);
    expect(summary.recording).toEqual({
      recorded: [],
      failed: [
        expect.objectContaining({
          origin: SHARD0,
          check: 'truncated',
          tenant: TENANT,
          message: 'not recorded in the trail: KMS AccessDeniedException',
        }),
      ],
    });
    expect((await store.readHead(SHARD1)).size).toBe(1);
  });

  it('still publishes when the injected recorder itself throws', async () => {
    const { store, archive } = await tamperedTrail();
    const bus = new RecordingBus();
    const summary = await runIntegrityMonitor({
      store,
      archive,
      bus,
      origins: [SHARD0, SHARD1],
      clock: () => DETECTED,
      recordViolations: () => Promise.reject(new Error('recorder crashed')),
    });
    expect(bus.entries).toHaveLength(1);
    expect(summary.recording?.failed).toEqual([
      expect.objectContaining({ origin: SHARD0, message: 'not recorded in the trail: recorder crashed' }),
    ]);
  });

  it('records before rethrowing a failed publish, so a retried run finds the event already recorded', async () => {
    const { store, archive } = await tamperedTrail();
    const { bus, run } = setup(store, archive);
    bus.failNext = true;
    await expect(run()).rejects.toThrow('PutEvents throttled');
    expect((await store.readHead(SHARD1)).size).toBe(2);
    const retried = await run();
    expect(bus.entries).toHaveLength(1);
    expect(retried.recording!.recorded.map((entry) => entry.status)).toEqual(['already-recorded']);
  });

  it('does not extend a violated log: a tenant with no clean log gets its violation reported as not recorded', async () => {
    const { store, archive, rolledBackTo } = await tamperedTrail(1);
    const { bus, run } = setup(store, archive, { shards: 1 });
    const summary = await run();
    expect(bus.entries).toHaveLength(1);
    expect(summary.recording).toEqual({
      recorded: [],
      failed: [
        {
          origin: SHARD0,
          check: 'truncated',
          leafIndex: rolledBackTo,
          tenant: TENANT,
          message: expect.stringMatching(/no log that verified clean in this run/),
        },
      ],
    });
    expect((await store.readHead(SHARD0)).size).toBe(rolledBackTo);
  });

  it('records public-key violations for every tenant, and tells apart findings that share every field', async () => {
    const ledger = await buildLedger([1]);
    await ledger.ingest([makeEvent('other-1')], { tenant: 'other' });
    const recorder = createViolationRecorder({
      store: ledger.store,
      signer,
      deploymentOrigin: DEPLOYMENT_ORIGIN,
      tenants: tenants(1),
      identity: { principalArn: ROLE_ARN, accountId: '123456789012' },
    });
    const logs: LogReport[] = [SHARD0, originOf(0, 'other')].map((origin) => ({
      origin,
      tableSize: 1,
      archivedSize: 1,
      verifiedFrom: 0,
      verifiedTo: 1,
      appendsVerified: 1,
      status: 'ok',
    }));
    const mismatch = (keyId: string): IntegrityViolation => ({
      origin: 'keys',
      check: 'key-mismatch',
      message: `the table's public key for ${keyId} differs from the archived one`,
    });
    const recording = await recorder(
      [mismatch('k1'), mismatch('k2'), { ...mismatch('x'), origin: 'nowhere/x/0' }],
      {
        detectedAt: DETECTED,
        logs,
      },
    );
    expect(recording.recorded.map((entry) => [entry.tenant, entry.recordedIn])).toEqual([
      [TENANT, SHARD0],
      [TENANT, SHARD0],
      ['other', originOf(0, 'other')],
      ['other', originOf(0, 'other')],
    ]);
    expect(new Set(recording.recorded.map((entry) => `${entry.tenant}/${entry.eventId}`)).size).toBe(4);
    expect(recording.failed).toEqual([
      expect.objectContaining({ origin: 'nowhere/x/0', message: expect.stringMatching(/configured tenant/) }),
    ]);
    const { record } = await storedRecord(ledger.store, recording.recorded[0]!.eventId);
    expect(record.resources).toEqual([{ type: 'audit-log', id: 'keys' }]);
  });
});
