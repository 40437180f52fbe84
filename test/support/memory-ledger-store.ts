import { appendSortKey, eventKey } from '#core/ledger-layout.ts';
import {
  AppendConflictError,
  type AppendRecord,
  type EventPage,
  type EventQuery,
  type LedgerStore,
  type LogHead,
  type StoredEvent,
} from '#core/ports.ts';
import type { PublicKeyInfo } from '#core/signer.ts';

/** DynamoDB's transaction limit: the adapter puts the append record and every event in one transaction. */
const MAX_TRANSACTION_ITEMS = 100;

/** Same name as the DynamoDB adapter's error, which the read handler maps to 400 `invalid_cursor`. */
export class InvalidCursorError extends Error {
  override readonly name = 'InvalidCursorError';
}

export interface MemoryStoreCounters {
  /** commitAppend calls, won or lost. */
  commitCalls: number;
  /** commitAppend calls that stored their items. */
  commits: number;
  /** commitAppend calls that lost their condition (nothing stored). */
  conflicts: number;
  /** Items written: append records, events and keys (the unit DynamoDB bills). */
  itemsWritten: number;
  /** Public keys newly stored. */
  keysWritten: number;
}

/**
 * An in-memory LedgerStore with the DynamoDB adapter's semantics: items are immutable once written,
 * `commitAppend` is atomic (all or nothing) and fails with AppendConflictError — `duplicate_event` if any
 * event id exists (DynamoDB reports every failed condition; the adapter prefers the duplicate), else
 * `head_moved` if the append key exists. Values are copied in and out, as a real store would.
 */
export class MemoryLedgerStore implements LedgerStore {
  readonly counters: MemoryStoreCounters = {
    commitCalls: 0,
    commits: 0,
    conflicts: 0,
    itemsWritten: 0,
    keysWritten: 0,
  };
  private readonly appends = new Map<string, Map<number, AppendRecord>>();
  private readonly events = new Map<string, StoredEvent>();
  private readonly keys = new Map<string, PublicKeyInfo>();
  /** Makes the next `n` commits lose with this reason (a store that keeps losing the race). */
  private forcedConflicts: { remaining: number; reason: AppendConflictError['reason'] } = {
    remaining: 0,
    reason: 'head_moved',
  };
  /** Runs inside commitAppend before its conditions are checked (tests slip a competing append in here). */
  beforeCommit?: (append: AppendRecord, events: readonly StoredEvent[]) => void | Promise<void>;

  loseNextCommits(count: number, reason: AppendConflictError['reason'] = 'head_moved'): void {
    this.forcedConflicts = { remaining: count, reason };
  }

  /** Number of items stored (appends + events + keys): "store untouched" means this did not change. */
  get size(): number {
    let appends = 0;
    for (const log of this.appends.values()) appends += log.size;
    return appends + this.events.size + this.keys.size;
  }

  async readHead(origin: string): Promise<LogHead> {
    const log = this.appends.get(origin);
    if (!log || log.size === 0) return { origin, size: 0, frontier: [], checkpoint: null };
    const latest = log.get(Math.max(...log.keys()))!;
    return {
      origin,
      size: latest.size,
      frontier: copy(latest).frontier,
      checkpoint: copy(latest.checkpoint),
    };
  }

  async getEvents(tenant: string, eventIds: readonly string[]): Promise<Map<string, StoredEvent>> {
    const found = new Map<string, StoredEvent>();
    for (const id of new Set(eventIds)) {
      const event = this.events.get(eventKey(tenant, id).pk);
      if (event) found.set(id, copy(event));
    }
    return found;
  }

  async commitAppend(append: AppendRecord, events: readonly StoredEvent[]): Promise<void> {
    this.counters.commitCalls++;
    await this.beforeCommit?.(append, events);
    const eventKeys = events.map((event) => eventKey(event.tenant, event.eventId).pk);
    // DynamoDB rejects these requests outright (ValidationException): a bug in the caller, not a lost race.
    if (events.length + 1 > MAX_TRANSACTION_ITEMS) {
      throw new Error(`a transaction holds at most ${MAX_TRANSACTION_ITEMS} items, got ${events.length + 1}`);
    }
    if (new Set(eventKeys).size !== eventKeys.length) {
      throw new Error('Transaction request cannot include multiple operations on one item');
    }
    if (this.forcedConflicts.remaining > 0) {
      this.forcedConflicts.remaining--;
      this.counters.conflicts++;
      throw new AppendConflictError(this.forcedConflicts.reason);
    }
    const log = this.appends.get(append.origin) ?? new Map<number, AppendRecord>();
    const duplicate = eventKeys.some((key) => this.events.has(key));
    const headMoved = log.has(append.start);
    if (duplicate || headMoved) {
      this.counters.conflicts++;
      throw new AppendConflictError(duplicate ? 'duplicate_event' : 'head_moved');
    }
    log.set(append.start, copy(append));
    this.appends.set(append.origin, log);
    events.forEach((event, i) => {
      this.events.set(eventKeys[i]!, copy(event));
    });
    this.counters.commits++;
    this.counters.itemsWritten += 1 + events.length;
  }

  async getAppend(origin: string, start: number): Promise<AppendRecord | undefined> {
    const append = this.appends.get(origin)?.get(start);
    return append ? copy(append) : undefined;
  }

  /** Like a DynamoDB Query with Limit: `next` is set whenever the page is full, even if nothing follows. */
  async listAppends(
    origin: string,
    fromStart: number,
    limit: number,
  ): Promise<{ appends: AppendRecord[]; next?: number }> {
    const all = [...(this.appends.get(origin)?.values() ?? [])]
      .filter((append) => appendSortKey(append.start) >= appendSortKey(fromStart))
      .sort((a, b) => a.start - b.start);
    const appends = all.slice(0, limit).map(copy);
    const last = appends[appends.length - 1];
    return { appends, ...(appends.length === limit && last ? { next: last.size } : {}) };
  }

  async registerKey(key: PublicKeyInfo): Promise<void> {
    if (this.keys.has(key.keyId)) return; // conditional put: public keys never change for a key id
    this.keys.set(key.keyId, { ...key });
    this.counters.keysWritten++;
    this.counters.itemsWritten++;
  }

  async listKeys(): Promise<PublicKeyInfo[]> {
    return [...this.keys.values()].sort((a, b) => byUtf8(a.keyId, b.keyId)).map((key) => ({ ...key }));
  }

  /**
   * The DynamoDB adapter's query semantics: one partition (actor, else resource, else the tenant), newest
   * first by `<UTC time>#<eventId>`, `limit` items evaluated before the remaining filters apply, and a
   * cursor that only works for the partition it came from.
   */
  async queryEvents(query: EventQuery): Promise<EventPage> {
    const partition = query.actor
      ? `actor:${query.actor}`
      : query.resource
        ? `resource:${query.resource}`
        : 'tenant';
    const from = query.from ? utc(query.from) : '0';
    const to = query.to ? `${utc(query.to)}#~` : '~';
    let candidates = [...this.events.values()]
      .filter((event) => event.tenant === query.tenant)
      .map((event) => ({ event, record: JSON.parse(event.record) as IndexedRecord }))
      .map((entry) => ({ ...entry, sortKey: `${utc(entry.record.time)}#${entry.event.eventId}` }))
      .filter(({ record }) =>
        query.actor
          ? record.actor.id === query.actor
          : query.resource
            ? record.resources[0]?.id === query.resource
            : true,
      )
      .filter(({ sortKey }) => sortKey >= from && sortKey <= to)
      .sort((a, b) => byUtf8(b.sortKey, a.sortKey));
    if (query.cursor) {
      const cursor = decodeCursor(query.cursor, `${query.tenant}\n${partition}`);
      candidates = candidates.filter(({ sortKey }) => byUtf8(sortKey, cursor) < 0);
    }
    const evaluated = candidates.slice(0, query.limit);
    const events = evaluated
      .filter(({ record }) => !(query.actor && query.resource) || record.resources[0]?.id === query.resource)
      .filter(({ record }) => !query.action || record.action === query.action)
      .filter(({ record }) => !query.outcome || record.outcome === query.outcome)
      .map(({ event }) => copy(event));
    const last = evaluated[evaluated.length - 1];
    return {
      events,
      ...(evaluated.length === query.limit && last
        ? { cursor: encodeCursor(`${query.tenant}\n${partition}`, last.sortKey) }
        : {}),
    };
  }
}

interface IndexedRecord {
  time: string;
  action: string;
  outcome: string;
  actor: { id: string };
  resources: { id: string }[];
}

const utc = (time: string) => new Date(time).toISOString();

/** DynamoDB orders string keys by their UTF-8 bytes. */
const byUtf8 = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

const copy = <T>(value: T): T => structuredClone(value);

const encodeCursor = (scope: string, sortKey: string) =>
  Buffer.from(JSON.stringify({ scope, sortKey })).toString('base64url');

function decodeCursor(cursor: string, scope: string): string {
  let decoded: { scope?: unknown; sortKey?: unknown };
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidCursorError('cursor is not one this API returned');
  }
  if (decoded?.scope !== scope || typeof decoded.sortKey !== 'string') {
    throw new InvalidCursorError('cursor belongs to another query');
  }
  return decoded.sortKey;
}
