import { canonicalBytes } from '#core/canonical.ts';
import { parseCheckpointBody, type SignedCheckpoint } from '#core/checkpoint.ts';
import { LeafSlots } from '#core/leaf-slots.ts';
import { equalBytes, fromHex, leafHash, leafHashHex, toHex } from '#core/merkle.ts';
import type { Receipt } from '#core/receipt.ts';
import { keyMap, type PublicKeyInfo } from '#core/signer.ts';
import {
  type BytesLeaf,
  checkEventPosition,
  type EventPosition,
  LogVerifier,
  type VerifiedAppend,
  type VerifiedLeaf,
  type VerifyFailure,
} from '#core/verify-log.ts';
import { AuditApiError, type AuditClient, type LogSummary } from './client.ts';

/**
 * Verifying a whole trail: every log append by append (`LogVerifier`), then every event the store lists
 * must sit at a verified position with the verified bytes. The trail comes from a `TrailSource`: the API
 * here; an archive or an export directory can supply the same shape.
 */
export interface TrailSource {
  /** Every public key that ever signed a checkpoint. */
  publicKeys(): Promise<PublicKeyInfo[]>;
  /** The logs and the heads the store advertises. */
  logs(): Promise<LogSummary[]>;
  /** Appends of a log in order, from the one starting at `from`; nothing for a log the store lacks. */
  appends(origin: string, from: number): AsyncIterable<unknown>;
  /** The store's own listing of events, page by page; absent if the source holds logs only. */
  events?(): AsyncIterable<readonly ListedEvent[]>;
  /** Where the store places an event it lists but no verified log holds, or why it cannot say. */
  locate?(eventId: string): Promise<EventPosition | { readonly unavailable: string }>;
}

/**
 * An event as a store lists it: its record (the API), or the record's exact stored bytes and the id it is
 * listed under (an archive's events lines). Bytes are compared with the verified leaf's bytes, not re-hashed.
 * A byte listing may say where it sits (`origin`, `leafIndex`): then it is matched with the verified leaf
 * at that position (same event id, same bytes) without a lookup by id; if that does not hold, by id.
 */
export type ListedEvent =
  | { readonly record: Record<string, unknown> }
  | {
      readonly eventId: string;
      readonly recordBytes: Uint8Array;
      readonly origin?: string;
      readonly leafIndex?: number;
    };

export interface VerifyTrailOptions {
  /** A witness: checkpoints seen before. Each log must still pass through them. */
  readonly knownCheckpoints?: readonly SignedCheckpoint[];
  /** Receipts held by clients: each must match its leaf, and name an event the logs still hold. */
  readonly receipts?: readonly Receipt[];
  readonly onProgress?: (progress: {
    readonly phase: 'logs' | 'events';
    readonly done: number;
    readonly total: number;
  }) => void;
  readonly now?: () => number;
}

export interface LogReport {
  readonly origin: string;
  readonly size: number;
  readonly appends: number;
  readonly leaves: number;
  readonly signatures: number;
  readonly checkpoint: SignedCheckpoint | null;
}

export interface TrailReport {
  readonly ok: boolean;
  readonly failure?: VerifyFailure;
  readonly logs: LogReport[];
  readonly totals: {
    readonly logs: number;
    readonly leaves: number;
    readonly appends: number;
    readonly signatures: number;
  };
  /** Events the store listed, each found at a verified position with identical bytes. */
  readonly eventsListed: number;
  readonly elapsedMs: number;
}

const UNKNOWN_LOG = '(unknown log)';

/** One log's verified leaves by position: ids, and the leaf object served (bytes) or the leaf hash (records). */
interface LogLeaves {
  readonly tenant: string;
  readonly ids: LeafSlots<string>;
  /** The leaf as pushed, for leaves served as bytes (an archive's lines): listed lines are these objects. */
  readonly leaves: LeafSlots<BytesLeaf>;
  /** The leaf hash (hex), for leaves served as records (the API); byte leaves are compared by their bytes. */
  readonly hashes: LeafSlots<string>;
}

interface LeafPosition {
  readonly origin: string;
  readonly leafIndex: number;
}

/**
 * Which event an id names: ids are unique within a tenant, and two tenants may share one. A scope names the
 * tenant, or a log (its tenant's); a log no verified leaf is in matches nothing.
 */
interface IdScope {
  readonly tenant?: string | undefined;
  readonly origin?: string | undefined;
}

/**
 * The verified leaves: by position (each log's leaves, as LogVerifier reports them append by append), and by
 * event id, built only when something asks by id (the API lists records by id; an archive lists its lines
 * with their positions). An id recorded twice in one tenant is found with one Set probe per leaf; the same id
 * in two tenants is two events, as the ledger keys them. Nothing per leaf is allocated here: the slots hold
 * what the appends already hold.
 */
class LeafIndex {
  private readonly idsByTenant = new Map<string, Set<string>>();
  private readonly logs = new Map<string, LogLeaves>();
  private byId: Map<string, LeafPosition[]> | undefined;
  duplicate: VerifyFailure | undefined;

  add(append: VerifiedAppend): void {
    let log = this.logs.get(append.origin);
    if (!log) {
      log = { tenant: append.tenant, ids: new LeafSlots(), leaves: new LeafSlots(), hashes: new LeafSlots() };
      this.logs.set(append.origin, log);
    }
    let ids = this.idsByTenant.get(append.tenant);
    if (!ids) {
      ids = new Set();
      this.idsByTenant.set(append.tenant, ids);
    }
    for (let i = 0; i < append.eventIds.length; i++) {
      const eventId = append.eventIds[i]!;
      const leafIndex = append.start + i;
      this.noteId(ids, eventId, append, leafIndex);
      log.ids.set(leafIndex, eventId);
      const leaf = append.leaves[i];
      if (typeof leaf === 'object' && leaf !== null && 'recordBytes' in leaf)
        log.leaves.set(leafIndex, leaf as BytesLeaf);
      else log.hashes.set(leafIndex, append.leafHashes[i]!);
      if (this.byId) addPosition(this.byId, eventId, { origin: append.origin, leafIndex });
    }
  }

  private noteId(ids: Set<string>, eventId: string, append: VerifiedAppend, leafIndex: number): void {
    const known = ids.size;
    ids.add(eventId);
    if (ids.size !== known || this.duplicate) return;
    const earlier = this.get(eventId, { tenant: append.tenant })!;
    this.duplicate = {
      origin: append.origin,
      check: 'event-id',
      leafIndex,
      eventId,
      message: `event ${eventId} is recorded twice in tenant ${append.tenant}: at ${earlier.origin} leaf ${earlier.leafIndex} and here`,
    };
  }

  /**
   * Whether the verified leaf at the event's position is this event with these bytes: the very object that
   * was verified (an archive lists its lines, which are the leaves it served), or one with equal id and bytes.
   */
  holds(event: ListedEvent & { readonly origin: string; readonly leafIndex: number }): boolean {
    const log = this.logs.get(event.origin);
    const verified = log?.leaves.get(event.leafIndex);
    if (verified === undefined) return false;
    if (verified === event) return true;
    return (
      'recordBytes' in event &&
      log!.ids.get(event.leafIndex) === event.eventId &&
      equalBytes(verified.recordBytes, event.recordBytes)
    );
  }

  /** The verified leaf of an event: in the scope's tenant when it names one, else the first found. */
  get(eventId: string, scope: IdScope = {}): VerifiedLeaf | undefined {
    const positions = this.indexById().get(eventId) ?? [];
    const tenant =
      scope.tenant ??
      (scope.origin === undefined ? undefined : (this.logs.get(scope.origin)?.tenant ?? null));
    const at =
      tenant === undefined
        ? positions[0]
        : positions.find((position) => this.logs.get(position.origin)!.tenant === tenant);
    if (!at) return undefined;
    const log = this.logs.get(at.origin)!;
    const recordBytes = log.leaves.get(at.leafIndex)?.recordBytes;
    return {
      origin: at.origin,
      leafIndex: at.leafIndex,
      eventId,
      leafHash: fromHex(log.hashes.get(at.leafIndex) ?? leafHashHex(recordBytes!)),
      recordBytes,
    };
  }

  /** The by-id index, built on first use and kept up to date by `add` from then on. */
  private indexById(): Map<string, LeafPosition[]> {
    if (!this.byId) {
      const byId = new Map<string, LeafPosition[]>();
      for (const [origin, log] of this.logs) {
        for (const [leafIndex, id] of log.ids.entries()) addPosition(byId, id, { origin, leafIndex });
      }
      this.byId = byId;
    }
    return this.byId;
  }
}

function addPosition(byId: Map<string, LeafPosition[]>, eventId: string, position: LeafPosition): void {
  const positions = byId.get(eventId);
  if (positions) positions.push(position);
  else byId.set(eventId, [position]);
}

/**
 * Whether a listed event has the verified leaf's bytes: compared directly when both sides are bytes
 * (nothing to hash), else by leaf hash.
 */
function sameBytes(listed: ListedEvent, leaf: VerifiedLeaf): boolean {
  if ('recordBytes' in listed && leaf.recordBytes !== undefined)
    return equalBytes(listed.recordBytes, leaf.recordBytes);
  return listedHash(listed) === toHex(leaf.leafHash);
}

/** The leaf hash of a listed event, or why it has none. */
function listedHash(listed: ListedEvent): string {
  try {
    return 'recordBytes' in listed
      ? leafHashHex(listed.recordBytes)
      : toHex(leafHash(canonicalBytes(listed.record)));
  } catch (error) {
    return `unhashable: ${(error as Error).message}`;
  }
}

interface Run {
  readonly verifier: LogVerifier;
  readonly listedSize: number;
}

export async function verifyTrail(
  source: TrailSource,
  options: VerifyTrailOptions = {},
): Promise<TrailReport> {
  const now = options.now ?? Date.now;
  const started = now();
  const keys = keyMap(await source.publicKeys());
  const listed = await source.logs();
  const known = groupByOrigin([
    ...(options.knownCheckpoints ?? []),
    ...(options.receipts ?? []).map((r) => r.checkpoint),
  ]);
  const receipts = new Map((options.receipts ?? []).map((receipt) => [receipt.eventId, receipt]));
  const index = new LeafIndex();
  const runs = new Map<string, Run>();
  const total = listed.reduce((sum, log) => sum + log.size, 0);
  let leaves = 0;
  const report = (failure?: VerifyFailure, eventsListed = 0): TrailReport =>
    buildReport(runs, failure, eventsListed, now() - started);

  const origins = [...new Set([...listed.map((log) => log.origin), ...known.keys()])].sort();
  for (const origin of origins) {
    const head = listed.find((log) => log.origin === origin);
    const verifier = new LogVerifier({
      origin,
      keys,
      knownCheckpoints: [...(known.get(origin) ?? []), ...(head?.checkpoint ? [head.checkpoint] : [])],
      receiptFor: (id) => receipts.get(id),
      onAppend: (append) => {
        index.add(append);
        leaves += append.eventIds.length;
        options.onProgress?.({ phase: 'logs', done: leaves, total: Math.max(total, leaves) });
      },
    });
    const run = { verifier, listedSize: head?.size ?? 0 };
    runs.set(origin, run);
    const failure = (await drain(source, run)) ?? index.duplicate;
    if (failure) return report(pinToReceipt(failure, options.receipts ?? []));
  }

  const stray = strayReceipt(options.receipts ?? [], index, runs);
  if (stray) return report(stray);
  if (!source.events) return report();
  const events = await checkListedEvents(source, index, runs, (done) =>
    options.onProgress?.({ phase: 'events', done, total: Math.max(leaves, done) }),
  );
  return report(events.failure, events.listed);
}

/** Pushes every append from the verified head on, then checks truncation; resumable if the log grows. */
async function drain(source: TrailSource, run: Run): Promise<VerifyFailure | undefined> {
  for await (const append of source.appends(run.verifier.origin, run.verifier.size)) {
    const failure = run.verifier.push(append);
    if (failure) return failure;
  }
  return run.verifier.finish({ expectedMinimumSize: run.listedSize }).failure;
}

/** A truncation found through checkpoints names the first lost leaf; a held receipt can name its event. */
function pinToReceipt(failure: VerifyFailure, receipts: readonly Receipt[]): VerifyFailure {
  if (failure.check !== 'truncated' || failure.eventId !== undefined) return failure;
  const lost = receipts.find(
    (receipt) => receipt.origin === failure.origin && receipt.leafIndex === failure.leafIndex,
  );
  return lost ? { ...failure, eventId: lost.eventId } : failure;
}

/** A receipt for an event no verified log holds: the log lost it (rolled back) or never had it. */
function strayReceipt(
  receipts: readonly Receipt[],
  index: LeafIndex,
  runs: ReadonlyMap<string, Run>,
): VerifyFailure | undefined {
  const sizes = verifiedSizes(runs);
  for (const receipt of [...receipts].sort((a, b) => a.leafIndex - b.leafIndex)) {
    if (index.get(receipt.eventId, { origin: receipt.origin })) continue;
    return (
      checkEventPosition(receipt, sizes) ?? {
        origin: receipt.origin,
        check: 'orphan',
        leafIndex: receipt.leafIndex,
        eventId: receipt.eventId,
        message: `a receipt places event ${receipt.eventId} at leaf ${receipt.leafIndex}, which holds another event`,
      }
    );
  }
  return undefined;
}

const verifiedSizes = (runs: ReadonlyMap<string, Run>) =>
  new Map([...runs].map(([origin, run]) => [origin, run.verifier.size]));

/**
 * Every event the store lists must be a verified leaf with the same bytes. One that is not is an orphan:
 * typically its log's head was rolled back past it. A log that grew since it was verified is caught up first.
 * An event found in the index is settled synchronously (no await per event).
 */
async function checkListedEvents(
  source: TrailSource,
  index: LeafIndex,
  runs: ReadonlyMap<string, Run>,
  progress: (done: number) => void,
): Promise<{ failure?: VerifyFailure; listed: number }> {
  let listed = 0;
  for await (const page of source.events!()) {
    for (const event of page) {
      progress(++listed);
      if ('leafIndex' in event && event.origin !== undefined && event.leafIndex !== undefined) {
        if (index.holds(event as Parameters<LeafIndex['holds']>[0])) continue;
      }
      const eventId = listedId(event);
      if (eventId === undefined)
        return {
          failure: {
            origin: UNKNOWN_LOG,
            check: 'record',
            message: 'the store lists an event without an id',
          },
          listed,
        };
      const scope = listedScope(event);
      let leaf = index.get(eventId, scope);
      if (!leaf) {
        const failure = await placeListed(source, index, runs, eventId, scope);
        if (failure) return { failure, listed };
        leaf = index.get(eventId, scope)!;
      }
      if (sameBytes(event, leaf)) continue;
      return {
        failure: {
          origin: leaf.origin,
          check: 'record',
          leafIndex: leaf.leafIndex,
          eventId,
          message: `the store lists event ${eventId} with content that differs from verified leaf ${leaf.leafIndex}`,
        },
        listed,
      };
    }
  }
  return { listed };
}

/** The tenant a listed event belongs to: its record's, or its log's; unknown for a bare listing. */
function listedScope(event: ListedEvent): IdScope {
  if ('recordBytes' in event) return { origin: event.origin };
  return { tenant: typeof event.record.tenant === 'string' ? event.record.tenant : undefined };
}

function listedId(event: ListedEvent): string | undefined {
  if ('recordBytes' in event) return event.eventId;
  return typeof event.record.id === 'string' ? event.record.id : undefined;
}

/** An event no verified leaf holds yet: its log may have grown (caught up here), else it is an orphan. */
async function placeListed(
  source: TrailSource,
  index: LeafIndex,
  runs: ReadonlyMap<string, Run>,
  eventId: string,
  scope: IdScope,
): Promise<VerifyFailure | undefined> {
  const placed = await place(source, runs, eventId);
  if (placed) return placed;
  if (index.get(eventId, scope)) return undefined;
  return {
    origin: UNKNOWN_LOG,
    check: 'orphan',
    eventId,
    message: `event ${eventId} is listed but no verified log holds it`,
  };
}

/** Asks the source where an unindexed event is; catches its log up if it grew; else names the orphan. */
async function place(
  source: TrailSource,
  runs: ReadonlyMap<string, Run>,
  eventId: string,
): Promise<VerifyFailure | undefined> {
  const position = source.locate
    ? await source.locate(eventId)
    : { unavailable: 'the source cannot place events' };
  if ('unavailable' in position) {
    return {
      origin: UNKNOWN_LOG,
      check: 'orphan',
      eventId,
      message: `event ${eventId} is listed but no verified log holds it, and the store cannot place it (${position.unavailable}): its log was probably rolled back`,
    };
  }
  const run = runs.get(position.origin);
  if (run && position.leafIndex >= run.verifier.size) {
    const failure = await drain(source, run);
    if (failure) return failure;
  }
  return checkEventPosition(position, verifiedSizes(runs)) ?? undefined;
}

function groupByOrigin(checkpoints: readonly SignedCheckpoint[]): Map<string, SignedCheckpoint[]> {
  const groups = new Map<string, SignedCheckpoint[]>();
  for (const checkpoint of checkpoints) {
    let origin: string;
    try {
      origin = parseCheckpointBody(checkpoint.body).origin;
    } catch {
      // Malformed bodies still reach a verifier, which reports them; keyed apart so they are not lost.
      origin = UNKNOWN_LOG;
    }
    groups.set(origin, [...(groups.get(origin) ?? []), checkpoint]);
  }
  return groups;
}

function buildReport(
  runs: ReadonlyMap<string, Run>,
  failure: VerifyFailure | undefined,
  eventsListed: number,
  elapsedMs: number,
): TrailReport {
  const logs = [...runs.values()].map(({ verifier }) => logReport(verifier.state));
  return {
    ok: failure === undefined,
    ...(failure ? { failure } : {}),
    logs,
    totals: trailTotals(logs),
    eventsListed,
    elapsedMs,
  };
}

/** A log's line in a report, from its verifier's state. */
export const logReport = ({
  origin,
  size,
  appends,
  leaves,
  signatures,
  checkpoint,
}: LogReport): LogReport => ({
  origin,
  size,
  appends,
  leaves,
  signatures,
  checkpoint,
});

export function trailTotals(logs: readonly LogReport[]): TrailReport['totals'] {
  const sum = (pick: (log: LogReport) => number) => logs.reduce((total, log) => total + pick(log), 0);
  return {
    logs: logs.length,
    leaves: sum((log) => log.leaves),
    appends: sum((log) => log.appends),
    signatures: sum((log) => log.signatures),
  };
}

/** The API as a trail source (auditor role). */
export function apiTrailSource(client: AuditClient): TrailSource {
  return {
    publicKeys: () => client.publicKeys(),
    logs: () => client.listLogs(),
    async *appends(origin, from) {
      try {
        yield* client.listAppends(origin, from);
      } catch (error) {
        // A log only a witness names: the API does not have it, so it holds no appends.
        if (error instanceof AuditApiError && error.status === 404) return;
        throw error;
      }
    },
    async *events() {
      for await (const page of client.listEvents({ limit: 100 }))
        yield page.events.map((record) => ({ record }));
    },
    async locate(eventId) {
      try {
        const { receipt } = await client.getEvent(eventId);
        return { eventId, origin: receipt.origin, leafIndex: receipt.leafIndex };
      } catch (error) {
        // The read API cannot rebuild a receipt whose append is gone (500 integrity_error): it says where the
        // event claims to be, which names the leaf a rollback removed.
        const position = error instanceof AuditApiError ? error.details.position : undefined;
        if (position?.leafIndex !== undefined && (position.eventId ?? eventId) === eventId) {
          return { eventId, origin: position.origin, leafIndex: position.leafIndex };
        }
        if (error instanceof AuditApiError && (error.status === 404 || error.code === 'integrity_error')) {
          return { unavailable: `${error.status} ${error.code}: ${error.message}` };
        }
        throw error;
      }
    },
  };
}
