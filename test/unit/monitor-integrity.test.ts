import { describe, expect, it } from 'vitest';
import { appendFromItem, eventFromItem } from '#adapters/dynamo-ledger-store.ts';
import { INTEGRITY_VIOLATION_DETAIL_TYPE } from '#core/alert-rules.ts';
import {
  type IntegrityMonitorDeps,
  MonitorState,
  monitoredOrigins,
  monitorStateKey,
  type ResumableArchive,
  runIntegrityMonitor,
} from '#core/integrity-monitor.ts';
import type { AppendRecord, BusEntry, EventBus, LedgerStore, StoredEvent } from '#core/ports.ts';
import type { PublicKeyInfo } from '#core/signer.ts';
import { signCheckpoint } from '#core/signer.ts';
import { TenantsConfig } from '#core/tenancy.ts';
import { createArchiver } from '../../lambdas/streams/archiver.ts';
import { makeEvent } from '../support/events.ts';
import type { MemoryLedgerStore } from '../support/memory-ledger-store.ts';
import { buildLedger, insertsOf, type Ledger, originOf, signer, streamEvent } from './stream-fixtures.ts';

const ORIGIN = originOf(0);
const RECEIVED = Date.parse('2026-03-01T10:00:00.000Z');

/** An in-memory archive with S3's listing order and StartAfter. */
class MemoryArchive implements ResumableArchive {
  readonly objects = new Map<string, Uint8Array>();
  puts: string[] = [];
  async put(key: string, body: Uint8Array): Promise<void> {
    this.objects.set(key, body);
    this.puts.push(key);
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
  async publish(entries: readonly BusEntry[]) {
    this.entries.push(...entries);
  }
}

/**
 * The table as an attacker with write access left it: append records and event records deleted or
 * replaced. Everything else reads through to the in-memory ledger.
 */
class TamperedStore implements LedgerStore {
  readonly deletedAppends = new Set<number>();
  readonly deletedEvents = new Set<string>();
  readonly replacedAppends = new Map<number, AppendRecord>();
  readonly replacedEvents = new Map<string, StoredEvent>();
  keys?: PublicKeyInfo[];

  constructor(private readonly inner: MemoryLedgerStore) {}

  private async all(origin: string): Promise<AppendRecord[]> {
    const { appends } = await this.inner.listAppends(origin, 0, 1_000_000);
    return appends
      .filter((append) => origin !== ORIGIN || !this.deletedAppends.has(append.start))
      .map((append) => (origin === ORIGIN ? (this.replacedAppends.get(append.start) ?? append) : append));
  }

  async readHead(origin: string) {
    const last = (await this.all(origin)).at(-1);
    return last
      ? { origin, size: last.size, frontier: last.frontier, checkpoint: last.checkpoint }
      : { origin, size: 0, frontier: [], checkpoint: null };
  }

  async getEvents(tenant: string, ids: readonly string[]) {
    const found = await this.inner.getEvents(tenant, ids);
    for (const id of this.deletedEvents) found.delete(id);
    for (const [id, event] of this.replacedEvents) if (found.has(id)) found.set(id, event);
    return found;
  }

  async getAppend(origin: string, start: number) {
    return (await this.all(origin)).find((append) => append.start === start);
  }

  async listAppends(origin: string, fromStart: number, limit: number) {
    const appends = (await this.all(origin)).filter((append) => append.start >= fromStart).slice(0, limit);
    const last = appends.at(-1);
    return { appends, ...(appends.length === limit && last ? { next: last.size } : {}) };
  }

  async listKeys() {
    return this.keys ?? this.inner.listKeys();
  }

  commitAppend = () => Promise.reject(new Error('read only'));
  registerKey = () => Promise.reject(new Error('read only'));
  queryEvents = () => Promise.reject(new Error('read only'));
}

/** Runs the real archiver over the ledger's stream records. */
async function archive(
  ledger: Ledger,
  into = new MemoryArchive(),
  filter: (append: AppendRecord) => boolean = () => true,
) {
  const records = insertsOf({ ...ledger, appends: ledger.appends.filter(filter) });
  await createArchiver({ archive: into, codec: { eventFromItem, appendFromItem } })(streamEvent(records));
  return into;
}

function monitor(
  store: LedgerStore,
  archiveStore: MemoryArchive,
  options: Partial<IntegrityMonitorDeps> = {},
) {
  const bus = new RecordingBus();
  const run = (clock = new Date(RECEIVED + 60_000)) =>
    runIntegrityMonitor({
      store,
      archive: archiveStore,
      bus,
      origins: [ORIGIN],
      clock: () => clock,
      ...options,
    });
  return { bus, run };
}

const checks = (summary: Awaited<ReturnType<typeof runIntegrityMonitor>>) =>
  summary.violations.map((v) => v.check);

describe('integrity monitor: a clean log', () => {
  it('passes a clean, fully archived log and remembers how far it verified', async () => {
    const ledger = await buildLedger([3, 2, 4]);
    const archived = await archive(ledger);
    const { bus, run } = monitor(ledger.store, archived);
    const summary = await run();
    expect(summary.violations).toEqual([]);
    expect(summary.warnings).toEqual([]);
    expect(summary.errors).toEqual([]);
    expect(summary.logs).toEqual([
      // A first run trusts the archive up to its newest append, which is young, so verified again from the table.
      {
        origin: ORIGIN,
        tableSize: 9,
        archivedSize: 9,
        verifiedFrom: 5,
        verifiedTo: 9,
        appendsVerified: 1,
        status: 'ok',
      },
    ]);
    expect(bus.entries).toEqual([]);
    const state = MonitorState.parse(
      JSON.parse(new TextDecoder().decode(archived.objects.get(monitorStateKey(ORIGIN))!)),
    );
    expect(state).toMatchObject({
      origin: ORIGIN,
      size: 9,
      checkpoint: ledger.appends[2]!.checkpoint,
      lastAppendStart: 5,
      lastAppendReceivedAt: '2026-03-01T10:00:00.000Z',
    });
  });

  it('verifies appends the archive does not hold yet, and on the next run only what is new', async () => {
    const ledger = await buildLedger([3, 2]);
    const archived = await archive(ledger);
    const { run } = monitor(ledger.store, archived);
    expect((await run()).violations).toEqual([]);
    await ledger.ingest([makeEvent('new-1'), makeEvent('new-2')]);
    await ledger.ingest([makeEvent('new-3')]);
    const second = await run();
    expect(second.violations).toEqual([]);
    expect(second.logs[0]).toMatchObject({
      tableSize: 8,
      archivedSize: 5,
      verifiedFrom: 3,
      verifiedTo: 8,
      appendsVerified: 3,
    });
    const third = await run(new Date(RECEIVED + 120_000));
    // The newest append is verified again while young; nothing before it.
    expect(third.logs[0]).toMatchObject({ verifiedFrom: 7, verifiedTo: 8, appendsVerified: 1 });
  });

  it('trusts the archive without re-reading old records once the newest append is past the re-check window', async () => {
    const ledger = await buildLedger([3, 2]);
    const archived = await archive(ledger);
    const store = new TamperedStore(ledger.store);
    // Hot retention removed the records long ago: not a violation, and not looked at.
    for (const event of ledger.events) store.deletedEvents.add(event.eventId);
    const summary = await monitor(store, archived).run(new Date(RECEIVED + 40 * 86_400_000));
    expect(summary.violations).toEqual([]);
    expect(summary.logs[0]).toMatchObject({ verifiedFrom: 5, verifiedTo: 5, appendsVerified: 0 });
  });

  it('verifies a log with no archive from its first leaf', async () => {
    const ledger = await buildLedger([2, 2]);
    const summary = await monitor(ledger.store, new MemoryArchive(), { archiveLagGraceMs: 3_600_000 }).run();
    expect(summary.violations).toEqual([]);
    expect(summary.logs[0]).toMatchObject({ verifiedFrom: 0, verifiedTo: 4, appendsVerified: 2 });
  });

  it('lists the logs of every tenant and shard', () => {
    const tenants = TenantsConfig.parse({ tenants: [{ name: 'acme', shards: 2 }, { name: 'globex' }] });
    expect(monitoredOrigins(tenants, 'audit.example.com')).toEqual([
      'audit.example.com/acme/0',
      'audit.example.com/acme/1',
      'audit.example.com/globex/0',
    ]);
  });
});

describe('integrity monitor: tampering', () => {
  it('detects a rolled-back head: the table ends before the archived checkpoint', async () => {
    const ledger = await buildLedger([3, 2, 4]);
    const archived = await archive(ledger);
    const store = new TamperedStore(ledger.store);
    store.deletedAppends.add(5);
    const { bus, run } = monitor(store, archived);
    const summary = await run();
    expect(summary.violations).toEqual([
      expect.objectContaining({
        origin: ORIGIN,
        check: 'truncated',
        leafIndex: 5,
        message: expect.stringMatching(/\[5, 9\)/),
      }),
    ]);
    expect(bus.entries).toEqual([
      {
        source: 'audit-trail',
        detailType: INTEGRITY_VIOLATION_DETAIL_TYPE,
        detail: summary.violations[0],
        time: expect.any(Date),
      },
    ]);
  });

  it('detects a rollback the archive has not seen yet, against what an earlier run verified', async () => {
    const ledger = await buildLedger([3, 2]);
    const archived = await archive(ledger, new MemoryArchive(), (append) => append.start === 0);
    const store = new TamperedStore(ledger.store);
    const { run } = monitor(store, archived, { archiveLagGraceMs: 3_600_000 });
    expect((await run()).violations).toEqual([]);
    store.deletedAppends.add(3);
    expect(checks(await run())).toEqual(['truncated']);
  });

  it('detects tail truncation: the log\u2019s last records deleted from the table while its head stays', async () => {
    const ledger = await buildLedger([3, 2]);
    const archived = await archive(ledger);
    const store = new TamperedStore(ledger.store);
    const { run } = monitor(store, archived);
    expect((await run()).violations).toEqual([]);
    const last = ledger.events.at(-1)!;
    store.deletedEvents.add(last.eventId);
    const summary = await run(new Date(RECEIVED + 120_000));
    expect(summary.violations).toEqual([
      expect.objectContaining({ check: 'missing-leaf', leafIndex: last.leafIndex, eventId: last.eventId }),
    ]);
  });

  it('detects a fork: the table signs another tree at a size the archive holds', async () => {
    const ledger = await buildLedger([3, 2]);
    const forked = await buildLedger([3, 2], 'forked');
    const archived = await archive(ledger);
    const summary = await monitor(forked.store, archived).run();
    expect(summary.violations).toEqual([expect.objectContaining({ check: 'fork', leafIndex: 3 })]);
  });

  it('detects a fork in appends the archive does not hold yet', async () => {
    const ledger = await buildLedger([3, 2]);
    const archived = await archive(ledger, new MemoryArchive(), (append) => append.start === 0);
    const store = new TamperedStore(ledger.store);
    const forked = await buildLedger([3, 2], 'forked');
    store.replacedAppends.set(3, forked.appends[1]!);
    const summary = await monitor(store, archived, { archiveLagGraceMs: 3_600_000 }).run();
    expect(checks(summary)).toEqual(['previous-checkpoint']);
  });

  it('detects a checkpoint whose signature does not verify', async () => {
    const ledger = await buildLedger([3, 2]);
    const archived = await archive(ledger, new MemoryArchive(), (append) => append.start === 0);
    const store = new TamperedStore(ledger.store);
    const append = ledger.appends[1]!;
    const other = await signCheckpoint(signer, `${ORIGIN}\n5\n${Buffer.alloc(32).toString('base64')}\n`);
    store.replacedAppends.set(3, {
      ...append,
      checkpoint: { ...append.checkpoint, signature: other.signature },
    });
    const summary = await monitor(store, archived, { archiveLagGraceMs: 3_600_000 }).run();
    expect(summary.violations).toEqual([expect.objectContaining({ check: 'signature' })]);
  });

  it('detects a record changed after it was appended', async () => {
    const ledger = await buildLedger([3, 2]);
    const archived = await archive(ledger, new MemoryArchive(), (append) => append.start === 0);
    const store = new TamperedStore(ledger.store);
    const event = ledger.events[3]!;
    store.replacedEvents.set(event.eventId, {
      ...event,
      record: event.record.replace('"success"', '"failure"'),
    });
    const summary = await monitor(store, archived, { archiveLagGraceMs: 3_600_000 }).run();
    expect(summary.violations).toEqual([
      expect.objectContaining({ check: 'leaf-hash', leafIndex: 3, eventId: event.eventId }),
    ]);
  });

  it('trusts only the archived public key when the table holds another one under the same id', async () => {
    const ledger = await buildLedger([2]);
    const archived = await archive(ledger);
    const store = new TamperedStore(ledger.store);
    const forger = (await import('#adapters/local-signer.ts')).LocalSigner.generate('p256');
    store.keys = [{ ...ledger.key, publicKeyPem: (await forger.publicKey()).publicKeyPem }];
    const summary = await monitor(store, archived).run();
    expect(summary.violations).toEqual([expect.objectContaining({ origin: 'keys', check: 'key-mismatch' })]);
  });

  it('raises a violation again on the next run, since it keeps its state at the last clean point', async () => {
    const ledger = await buildLedger([3, 2]);
    const archived = await archive(ledger);
    const store = new TamperedStore(ledger.store);
    store.deletedAppends.add(3);
    const { run } = monitor(store, archived);
    expect(checks(await run())).toEqual(['truncated']);
    expect(archived.objects.has(monitorStateKey(ORIGIN))).toBe(false);
    expect(checks(await run())).toEqual(['truncated']);
  });

  it('rejects an archived checkpoints object that does not hold what its name says', async () => {
    const ledger = await buildLedger([3]);
    const archived = await archive(ledger);
    const key = [...archived.objects.keys()].find((name) => name.startsWith('checkpoints/'))!;
    archived.objects.set(
      key.replace(/-\d{16}\.jsonl$/, '-0000000000000009.jsonl'),
      archived.objects.get(key)!,
    );
    const summary = await monitor(ledger.store, archived).run();
    expect(checks(summary)).toEqual(['archive-format']);
  });
});

describe('integrity monitor: archive lag', () => {
  it('warns when the oldest append the archive lacks is older than the grace period', async () => {
    const ledger = await buildLedger([3, 2]);
    const archived = await archive(ledger, new MemoryArchive(), (append) => append.start === 0);
    const { run } = monitor(ledger.store, archived);
    const late = await run(new Date(RECEIVED + 20 * 60_000));
    expect(late.violations).toEqual([]);
    expect(late.warnings).toEqual([
      expect.objectContaining({ origin: ORIGIN, check: 'archive-lag', lagSeconds: 1200 }),
    ]);
    const early = await run(new Date(RECEIVED + 5 * 60_000));
    expect(early.warnings).toEqual([]);
  });

  it('reports a log it could not read as an error, and still checks the others', async () => {
    const ledger = await buildLedger([2]);
    const archived = await archive(ledger);
    const store = new TamperedStore(ledger.store);
    const broken = Object.assign(Object.create(store), {
      readHead: (origin: string) =>
        origin === ORIGIN ? Promise.reject(new Error('throttled')) : store.readHead(origin),
    }) as LedgerStore;
    const summary = await runIntegrityMonitor({
      store: broken,
      archive: archived,
      bus: new RecordingBus(),
      origins: [ORIGIN, originOf(1)],
      clock: () => new Date(RECEIVED),
    });
    expect(summary.errors).toEqual([{ origin: ORIGIN, message: 'throttled' }]);
    expect(summary.logs.map((log) => [log.origin, log.status])).toEqual([
      [ORIGIN, 'error'],
      [originOf(1), 'ok'],
    ]);
  });
});
