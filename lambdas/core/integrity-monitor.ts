import { z } from 'zod';
import { type IntegrityViolationDetail, integrityViolationEntry } from './alert-rules.ts';
import { ARCHIVE_PREFIXES, type ArchivedAppend, logSlug } from './archive-layout.ts';
import { parseCheckpointsObject, parseKeyObject } from './archiving.ts';
import { parseCheckpointBody, SignedCheckpoint } from './checkpoint.ts';
import { toHex } from './merkle.ts';
import type { AppendRecord, ArchiveStore, EventBus, LedgerStore } from './ports.ts';
import type { PublicKeyInfo } from './signer.ts';
import { logOrigin, type TenantsConfig } from './tenancy.ts';
import { LogVerifier, type VerifyFailure } from './verify-log.ts';
import { type AppendWithLeavesJson, appendToJson, type LeafJson } from './wire.ts';

/**
 * The scheduled integrity monitor. For every log it compares the ledger table with the Object Lock archive
 * (the outside high-water mark) and re-verifies what was appended since its last run:
 * - the table's head behind a size the archive (or the monitor) already saw: `truncated`;
 * - the table's history disagreeing with an archived or earlier-verified checkpoint: `fork`;
 * - new appends, with the shared LogVerifier: leaf hashes, records present, roots (so every inclusion),
 *   signatures, and that each checkpoint extends the one before (`leaf-hash`, `missing-leaf`, `root`,
 *   `signature`, `previous-checkpoint`, `gap`, … — the names `audit-trail verify` uses);
 * - the archive trailing the table for longer than a grace period: an `archive-lag` warning.
 * Every violation is published as an `Integrity Violation` bus entry and, when a recorder is injected
 * (`recordViolations`, see violation-recorder.ts), recorded in the affected tenant's trail as an audit
 * event. Recording never stands in the way of the bus entry: it runs after publishing, and its failures
 * are reported in the summary, not thrown. The monitor's progress per log is an object
 * `monitor/state/<slug>.json` in the archive, written only while the log is clean, so a violation is
 * raised again on every run until someone repairs it.
 */

export const MONITOR_STATE_PREFIX = 'monitor/state/';
export const monitorStateKey = (origin: string) => `${MONITOR_STATE_PREFIX}${logSlug(origin)}.json`;

const HexHash = z.string().regex(/^[0-9a-f]{64}$/);

/** What the monitor remembers of one log between runs. */
export const MonitorState = z.strictObject({
  version: z.literal(1),
  origin: z.string(),
  /** Size verified up to, and its checkpoint and frontier: the next run's trusted start. */
  size: z.number().int().nonnegative(),
  checkpoint: SignedCheckpoint.nullable(),
  frontier: z.array(HexHash),
  /** Start of the newest append verified, and when it was received (it is verified again while young). */
  lastAppendStart: z.number().int().nonnegative().nullable(),
  lastAppendReceivedAt: z.iso.datetime({ offset: true }).nullable(),
  /** The archive's newest checkpoints object seen, so listing resumes there. */
  archiveKey: z.string().nullable(),
  verifiedAt: z.iso.datetime(),
});
export type MonitorState = z.infer<typeof MonitorState>;

/** An archive that can resume a listing (S3's StartAfter); stores without it are listed from the start. */
export interface ResumableArchive extends ArchiveStore {
  list(prefix: string, options?: { startAfter?: string }): AsyncIterable<string>;
}

export interface IntegrityMonitorDeps {
  readonly store: LedgerStore;
  readonly archive: ResumableArchive;
  readonly bus: EventBus;
  /** The logs to check (see `monitoredOrigins`). */
  readonly origins: readonly string[];
  readonly clock?: () => Date;
  /** The archive may trail the table this long before a warning. @default 15 minutes */
  readonly archiveLagGraceMs?: number;
  /** At most this many appends are verified per log and run; the rest wait for the next run. @default 1000 */
  readonly maxAppendsPerRun?: number;
  /**
   * The newest verified append is verified again on each run while younger than this, so deleting the
   * table's last records is caught even when nothing new arrives. Keep it below the hot retention (TTL
   * removes records legitimately after that). @default 12 hours
   */
  readonly recheckNewestForMs?: number;
  /** Logs checked at the same time. @default 4 */
  readonly concurrency?: number;
  /**
   * Records the run's violations in the trail (port; `createViolationRecorder` in violation-recorder.ts
   * implements it with the ingest use case). Called after the bus entries are published, only when there
   * are violations. A throw is caught: every violation is then reported as not recorded.
   * @default - violations are only published
   */
  readonly recordViolations?: RecordViolations;
}

/** What a recorder learns about the run: when it found the violations, and how each log fared. */
export interface MonitorRun {
  readonly detectedAt: Date;
  readonly logs: readonly LogReport[];
}

/** Port: records violations as audit events. */
export type RecordViolations = (
  violations: readonly IntegrityViolation[],
  run: MonitorRun,
) => Promise<ViolationRecording>;

/** A violation that is in the trail: where the audit event describing it sits. */
export interface RecordedViolation {
  readonly origin: string;
  readonly check: string;
  readonly leafIndex?: number;
  readonly tenant: string;
  /** Id of the `integrity.violation` audit event. */
  readonly eventId: string;
  /** The log that holds the event, and its leaf there. */
  readonly recordedIn: string;
  readonly recordedLeafIndex: number;
  /** `recorded` by this run, or `already-recorded` (same finding, same window, by an earlier run). */
  readonly status: 'recorded' | 'already-recorded';
}

/** A violation that could not be recorded (its bus entry is published regardless). */
export interface UnrecordedViolation {
  readonly origin: string;
  readonly check: string;
  readonly leafIndex?: number;
  readonly tenant?: string;
  readonly message: string;
}

export interface ViolationRecording {
  readonly recorded: readonly RecordedViolation[];
  readonly failed: readonly UnrecordedViolation[];
}

export type IntegrityViolation = IntegrityViolationDetail;

export interface MonitorWarning {
  readonly origin: string;
  readonly check: 'archive-lag';
  readonly message: string;
  readonly lagSeconds: number;
}

export interface LogReport {
  readonly origin: string;
  readonly tableSize: number;
  readonly archivedSize: number;
  /** Leaves [verifiedFrom, verifiedTo) were verified in this run. */
  readonly verifiedFrom: number;
  readonly verifiedTo: number;
  readonly appendsVerified: number;
  readonly status: 'ok' | 'violation' | 'error';
}

export interface MonitorSummary {
  readonly checkedAt: string;
  readonly logs: readonly LogReport[];
  readonly violations: readonly IntegrityViolation[];
  readonly warnings: readonly MonitorWarning[];
  /** Logs the monitor could not check (a store or archive error): nothing is known about them. */
  readonly errors: readonly { readonly origin: string; readonly message: string }[];
  /** How the violations were recorded in the trail; present when a recorder is injected. */
  readonly recording?: ViolationRecording;
}

/** Every log of every configured tenant: `<deploymentOrigin>/<tenant>/<shard>`. */
export const monitoredOrigins = (tenants: TenantsConfig, deploymentOrigin: string): string[] =>
  tenants.tenants.flatMap((tenant) =>
    Array.from({ length: tenant.shards }, (_, shard) => logOrigin(deploymentOrigin, tenant.name, shard)),
  );

const DEFAULTS = {
  archiveLagGraceMs: 15 * 60_000,
  maxAppendsPerRun: 1000,
  recheckNewestForMs: 12 * 3600_000,
  concurrency: 4,
  pageSize: 100,
};

/**
 * One run over all logs. Publishes violations, then records them (if a recorder is injected); throws only
 * if publishing them fails, and then only after recording was attempted (a retried run records nothing
 * twice: the recorder's event ids are deterministic).
 */
export async function runIntegrityMonitor(deps: IntegrityMonitorDeps): Promise<MonitorSummary> {
  const now = (deps.clock ?? (() => new Date()))();
  const { keys, violations } = await loadKeys(deps.store, deps.archive);
  const results: LogResult[] = [];
  const queue = [...deps.origins];
  const worker = async () => {
    for (let origin = queue.shift(); origin !== undefined; origin = queue.shift()) {
      results.push(await checkLogSafely(deps, origin, keys, now));
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, deps.concurrency ?? DEFAULTS.concurrency) }, worker));
  results.sort((a, b) => deps.origins.indexOf(a.report.origin) - deps.origins.indexOf(b.report.origin));
  const all = [...violations, ...results.flatMap((result) => (result.violation ? [result.violation] : []))];
  const logs = results.map((result) => result.report);
  let published: { error: unknown } | undefined;
  if (all.length > 0) {
    try {
      await deps.bus.publish(all.map((violation) => integrityViolationEntry(violation, now)));
    } catch (error) {
      published = { error };
    }
  }
  const recording = deps.recordViolations
    ? await recordSafely(deps.recordViolations, all, { detectedAt: now, logs })
    : undefined;
  if (published) throw published.error;
  return {
    checkedAt: now.toISOString(),
    logs,
    violations: all,
    warnings: results.flatMap((result) => (result.warning ? [result.warning] : [])),
    errors: results.flatMap((result) =>
      result.error ? [{ origin: result.report.origin, message: result.error }] : [],
    ),
    ...(recording ? { recording } : {}),
  };
}

/** Runs the recorder; a throw turns into every violation reported as not recorded. */
async function recordSafely(
  record: RecordViolations,
  violations: readonly IntegrityViolation[],
  run: MonitorRun,
): Promise<ViolationRecording> {
  if (violations.length === 0) return { recorded: [], failed: [] };
  try {
    return await record(violations, run);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return {
      recorded: [],
      failed: violations.map((violation) => ({
        origin: violation.origin,
        check: violation.check,
        ...(violation.leafIndex !== undefined ? { leafIndex: violation.leafIndex } : {}),
        message: `not recorded in the trail: ${reason}`,
      })),
    };
  }
}

interface LogResult {
  readonly report: LogReport;
  readonly violation?: IntegrityViolation;
  readonly warning?: MonitorWarning;
  readonly error?: string;
}

async function checkLogSafely(
  deps: IntegrityMonitorDeps,
  origin: string,
  keys: ReadonlyMap<string, PublicKeyInfo>,
  now: Date,
): Promise<LogResult> {
  try {
    return await new LogCheck(deps, origin, keys, now).run();
  } catch (error) {
    const report = {
      origin,
      tableSize: 0,
      archivedSize: 0,
      verifiedFrom: 0,
      verifiedTo: 0,
      appendsVerified: 0,
    };
    return {
      report: { ...report, status: 'error' },
      error: error instanceof Error ? error.message : String(error),
    };
  }
}

/**
 * Public keys from the archive (Object Lock, so authoritative) and the table (may be ahead of the archiver).
 * A table key that differs from the archived key of the same id is a violation and is not trusted.
 */
async function loadKeys(store: LedgerStore, archive: ArchiveStore) {
  const keys = new Map<string, PublicKeyInfo>();
  const violations: IntegrityViolation[] = [];
  for await (const key of archive.list(ARCHIVE_PREFIXES.keys)) {
    const body = await archive.get(key);
    if (!body) continue;
    try {
      const info = parseKeyObject(body);
      keys.set(info.keyId, info);
    } catch (error) {
      violations.push({
        origin: 'keys',
        check: 'archive-format',
        message: `archived key ${key} is malformed: ${(error as Error).message}`,
      });
    }
  }
  for (const key of await store.listKeys()) {
    const archived = keys.get(key.keyId);
    if (!archived) keys.set(key.keyId, key);
    else if (
      archived.publicKeyPem.trim() !== key.publicKeyPem.trim() ||
      archived.algorithm !== key.algorithm
    ) {
      violations.push({
        origin: 'keys',
        check: 'key-mismatch',
        message: `the table's public key for ${key.keyId} differs from the archived one; only the archived key is trusted`,
      });
    }
  }
  return { keys, violations };
}

interface LatestArchived {
  readonly key: string;
  readonly append: ArchivedAppend;
}

type Violated = { violation: IntegrityViolation };
type Outcome = Violated | undefined;

/** The checks of one log in one run. */
class LogCheck {
  private readonly options: typeof DEFAULTS;
  private verifier: LogVerifier | undefined;
  private tableSize = 0;
  private archived: LatestArchived | undefined;
  private state: MonitorState | undefined;
  private verifiedFrom = 0;
  private appendsVerified = 0;
  private lastPushed: { append: AppendRecord; receivedAt: string | null } | undefined;

  constructor(
    private readonly deps: IntegrityMonitorDeps,
    private readonly origin: string,
    private readonly keys: ReadonlyMap<string, PublicKeyInfo>,
    private readonly now: Date,
  ) {
    this.options = {
      archiveLagGraceMs: deps.archiveLagGraceMs ?? DEFAULTS.archiveLagGraceMs,
      maxAppendsPerRun: deps.maxAppendsPerRun ?? DEFAULTS.maxAppendsPerRun,
      recheckNewestForMs: deps.recheckNewestForMs ?? DEFAULTS.recheckNewestForMs,
      concurrency: deps.concurrency ?? DEFAULTS.concurrency,
      pageSize: DEFAULTS.pageSize,
    };
  }

  async run(): Promise<LogResult> {
    this.state = await this.readState();
    const archived = await this.latestArchived();
    if (archived && 'violation' in archived) return this.result(archived.violation);
    this.archived = archived;
    // The head is read after the archive: whatever the archiver stored was in the table first, so a
    // clean log can never look truncated because an append landed between the two reads.
    const head = await this.deps.store.readHead(this.origin);
    this.tableSize = head.size;
    const outcome = (await this.compareWithHighWater()) ?? (await this.verifyNewAppends(head.size));
    if (outcome) return this.result(outcome.violation);
    const warning = await this.archiveLag();
    await this.saveState();
    return { ...this.result(), ...(warning ? { warning } : {}) };
  }

  private result(violation?: IntegrityViolation): LogResult {
    const report: LogReport = {
      origin: this.origin,
      tableSize: this.tableSize,
      archivedSize: this.archived?.append.size ?? 0,
      verifiedFrom: this.verifiedFrom,
      verifiedTo: this.verifier?.size ?? this.verifiedFrom,
      appendsVerified: this.appendsVerified,
      status: violation ? 'violation' : 'ok',
    };
    return violation ? { report, violation } : { report };
  }

  private violation(
    check: string,
    message: string,
    at: { leafIndex?: number; eventId?: string } = {},
  ): Violated {
    return { violation: { origin: this.origin, check, ...at, message } };
  }

  private async readState(): Promise<MonitorState | undefined> {
    const body = await this.deps.archive.get(monitorStateKey(this.origin));
    if (!body) return undefined;
    const parsed = MonitorState.safeParse(safeJson(body));
    // An unreadable state only costs a fresh start from the archive; it is not evidence of anything.
    return parsed.success && parsed.data.origin === this.origin ? parsed.data : undefined;
  }

  /** The archived append with the largest size (object names carry it: `<first start>-<last size>.jsonl`). */
  private async latestArchived(): Promise<LatestArchived | Outcome> {
    const prefix = `${ARCHIVE_PREFIXES.checkpoints}${logSlug(this.origin)}/`;
    const resumeAt = this.state?.archiveKey?.slice(0, prefix.length + 16);
    let best: { key: string; size: number } | undefined;
    for await (const key of this.deps.archive.list(prefix, resumeAt ? { startAfter: resumeAt } : {})) {
      const match = /^(\d{16})-(\d{16})\.jsonl$/.exec(key.slice(prefix.length));
      if (!match) continue;
      const size = Number(match[2]);
      if (!best || size >= best.size) best = { key, size };
    }
    if (!best) return undefined;
    const body = await this.deps.archive.get(best.key);
    let lines: ArchivedAppend[];
    try {
      lines = body ? parseCheckpointsObject(body) : [];
    } catch (error) {
      return this.violation(
        'archive-format',
        `archived checkpoints ${best.key} are malformed: ${(error as Error).message}`,
      );
    }
    const append = lines.reduce<ArchivedAppend | undefined>(
      (top, line) => (!top || line.size > top.size ? line : top),
      undefined,
    );
    if (!append || append.size !== best.size || append.origin !== this.origin) {
      return this.violation(
        'archive-format',
        `archived checkpoints ${best.key} do not hold the checkpoint their name says`,
      );
    }
    return { key: best.key, append };
  }

  /** The table may never be behind a size the archive or an earlier run saw. */
  private async compareWithHighWater(): Promise<Outcome> {
    const seen = [this.archived?.append.checkpoint, this.state?.checkpoint].filter(
      (c): c is SignedCheckpoint => !!c,
    );
    for (const checkpoint of seen) {
      const { size } = parseCheckpointBody(checkpoint.body);
      if (size > this.tableSize) {
        return this.violation(
          'truncated',
          `the table's log ends at size ${this.tableSize} but a checkpoint of size ${size} signed by ${checkpoint.keyId} was archived or verified: ` +
            `leaves [${this.tableSize}, ${size}) were deleted or the head was rolled back`,
          { leafIndex: this.tableSize },
        );
      }
    }
    return undefined;
  }

  /** Pushes the appends since the trusted start through the LogVerifier. */
  private async verifyNewAppends(headSize: number): Promise<Outcome> {
    const start = await this.startingPoint();
    if ('violation' in start) return start;
    this.verifiedFrom = start.from;
    const known = [this.archived?.append.checkpoint, this.state?.checkpoint].filter(
      (c): c is SignedCheckpoint => !!c,
    );
    this.verifier = new LogVerifier({
      origin: this.origin,
      keys: this.keys,
      knownCheckpoints: known,
      ...(start.trusted ? { trustedStart: start.trusted } : {}),
    });
    const initial = this.verifier.state.failure;
    if (initial) return this.fromFailure(initial);
    const anchored = await this.compareAnchors(start.from);
    if (anchored) return anchored;
    let complete = true;
    let from: number | undefined = start.from;
    while (from !== undefined) {
      const page = await this.deps.store.listAppends(this.origin, from, this.options.pageSize);
      for (const append of page.appends) {
        if (this.appendsVerified >= this.options.maxAppendsPerRun) {
          complete = false;
          break;
        }
        const failure = await this.push(append);
        if (failure) return failure;
      }
      from = complete ? page.next : undefined;
    }
    // A run cut short by maxAppendsPerRun has not reached the known checkpoints yet: the next run will.
    if (!complete) return undefined;
    const finished = this.verifier.finish({ expectedMinimumSize: headSize });
    return finished.failure ? this.fromFailure(finished.failure) : undefined;
  }

  private async push(append: AppendRecord): Promise<Outcome> {
    const leaves = await this.leavesOf(append);
    if ('violation' in leaves) return leaves;
    const json: AppendWithLeavesJson = { ...appendToJson(append), leaves: leaves.leaves };
    const failure = this.verifier!.push(json);
    if (failure) return this.fromFailure(failure);
    this.appendsVerified += 1;
    this.lastPushed = { append, receivedAt: receivedAtOf(leaves.leaves) };
    return undefined;
  }

  /**
   * Where verification starts: the newest append verified last time while it is young (so deleting the
   * table's last records is caught even when nothing new arrives), else the size verified last time; on a
   * first run, the newest archived append (again only while young), else its size: a first run trusts the
   * Object Lock archive. With neither, the empty log.
   */
  private async startingPoint(): Promise<{ from: number; trusted?: TrustedStart } | Violated> {
    const state = this.state;
    if (state?.checkpoint) {
      if (state.lastAppendStart !== null && this.young(state.lastAppendReceivedAt)) {
        const append = await this.deps.store.getAppend(this.origin, state.lastAppendStart);
        if (!append) {
          return this.violation(
            'missing-append',
            `append ${state.lastAppendStart}, verified on an earlier run, is gone from the table`,
            {
              leafIndex: state.lastAppendStart,
            },
          );
        }
        return startingAt(append.start, append.previous, append.previousFrontier.map(toHex));
      }
      return { from: state.size, trusted: { checkpoint: state.checkpoint, frontier: state.frontier } };
    }
    const archived = this.archived?.append;
    if (!archived) return { from: 0 };
    const stored = await this.deps.store.getEvents(archived.tenant, archived.eventIds);
    // Only records still in the table tell the append's age; if TTL removed them all it is not young.
    if (
      this.young(
        receivedAtOf(
          [...stored.values()].map((event) => ({ record: safeJson(new TextEncoder().encode(event.record)) })),
        ),
      )
    ) {
      return startingAt(archived.start, archived.previous, archived.previousFrontier);
    }
    return { from: archived.size, trusted: { checkpoint: archived.checkpoint, frontier: archived.frontier } };
  }

  private young(receivedAt: string | null): boolean {
    const at = receivedAt ? Date.parse(receivedAt) : Number.NaN;
    return Number.isFinite(at) && this.now.getTime() - at < this.options.recheckNewestForMs;
  }

  /**
   * Checkpoints seen before (the newest archived one, the one verified last run) whose append lies before
   * where verification starts are not pushed through the verifier: the table's append there must still
   * carry exactly that checkpoint.
   */
  private async compareAnchors(from: number): Promise<Outcome> {
    const anchors = [
      this.archived && {
        start: this.archived.append.start,
        checkpoint: this.archived.append.checkpoint,
        seen: 'the archive holds',
      },
      this.state?.checkpoint && this.state.lastAppendStart !== null
        ? {
            start: this.state.lastAppendStart,
            checkpoint: this.state.checkpoint,
            seen: 'an earlier run verified',
          }
        : undefined,
    ];
    for (const anchor of anchors) {
      if (!anchor || anchor.start >= from) continue;
      const append = await this.deps.store.getAppend(this.origin, anchor.start);
      if (append?.checkpoint.body === anchor.checkpoint.body) continue;
      const { size } = parseCheckpointBody(anchor.checkpoint.body);
      return this.violation(
        'fork',
        append
          ? `the table's append ${anchor.start} signs another tree than the checkpoint of size ${size} ${anchor.seen}: the log was rewritten`
          : `${anchor.seen} append ${anchor.start} (size ${size}) but the table does not: the log was rewritten`,
        { leafIndex: anchor.start },
      );
    }
    return undefined;
  }

  /** The append's leaves from the table's event records, in leaf order (missing ones are left out). */
  private async leavesOf(
    append: AppendRecord,
  ): Promise<{ leaves: LeafJson[] } | { violation: IntegrityViolation }> {
    const stored = await this.deps.store.getEvents(append.tenant, append.eventIds);
    const leaves: LeafJson[] = [];
    for (const eventId of append.eventIds) {
      const event = stored.get(eventId);
      if (!event) continue;
      const record = safeJson(new TextEncoder().encode(event.record));
      if (typeof record !== 'object' || record === null || Array.isArray(record)) {
        return this.violation('record', `the stored record of event ${eventId} is not a JSON object`, {
          leafIndex: event.leafIndex,
          eventId,
        });
      }
      leaves.push({
        leafIndex: event.leafIndex,
        eventId,
        leafHash: toHex(event.leafHash),
        record: record as Record<string, unknown>,
      });
    }
    return { leaves };
  }

  private fromFailure(failure: VerifyFailure): Violated {
    return this.violation(failure.check, failure.message, {
      ...(failure.leafIndex !== undefined ? { leafIndex: failure.leafIndex } : {}),
      ...(failure.eventId !== undefined ? { eventId: failure.eventId } : {}),
    });
  }

  /** How long the oldest append the archive lacks has waited (from its records' receivedAt). */
  private async archiveLag(): Promise<MonitorWarning | undefined> {
    const archivedSize = this.archived?.append.size ?? 0;
    if (this.tableSize <= archivedSize) return undefined;
    const append = await this.deps.store.getAppend(this.origin, archivedSize);
    const firstId = append?.eventIds[0];
    if (!append || !firstId) return undefined;
    const event = (await this.deps.store.getEvents(append.tenant, [firstId])).get(firstId);
    const receivedAt = (
      safeJson(new TextEncoder().encode(event?.record ?? '')) as { receivedAt?: unknown } | undefined
    )?.receivedAt;
    const since = typeof receivedAt === 'string' ? Date.parse(receivedAt) : Number.NaN;
    const lagMs = this.now.getTime() - since;
    if (!Number.isFinite(lagMs) || lagMs <= this.options.archiveLagGraceMs) return undefined;
    return {
      origin: this.origin,
      check: 'archive-lag',
      lagSeconds: Math.round(lagMs / 1000),
      message: `the archive holds ${archivedSize} of the table's ${this.tableSize} leaves; append ${archivedSize} has waited ${Math.round(lagMs / 60_000)} min`,
    };
  }

  /** Records progress; skipped when nothing changed, since every write is a new locked object version. */
  private async saveState(): Promise<void> {
    const verifier = this.verifier;
    if (!verifier) return;
    const previous = this.state;
    const next: MonitorState = {
      version: 1,
      origin: this.origin,
      size: verifier.size,
      checkpoint: verifier.state.checkpoint,
      frontier: [...verifier.state.frontier],
      lastAppendStart: this.lastPushed?.append.start ?? previous?.lastAppendStart ?? null,
      lastAppendReceivedAt: this.lastPushed
        ? this.lastPushed.receivedAt
        : (previous?.lastAppendReceivedAt ?? null),
      archiveKey: this.archived?.key ?? previous?.archiveKey ?? null,
      verifiedAt: this.now.toISOString(),
    };
    if (next.size === 0 && !previous) return;
    const { verifiedAt: _a, ...a } = next;
    const { verifiedAt: _b, ...b } = previous ?? next;
    if (previous && JSON.stringify(a) === JSON.stringify(b)) return;
    await this.deps.archive.put(
      monitorStateKey(this.origin),
      new TextEncoder().encode(`${JSON.stringify(next)}\n`),
      'application/json',
    );
  }
}

interface TrustedStart {
  readonly checkpoint: SignedCheckpoint;
  readonly frontier: readonly string[];
}

/** Verification from an append: trusted from the checkpoint it extends (none for the first append). */
const startingAt = (from: number, previous: SignedCheckpoint | null, previousFrontier: readonly string[]) =>
  previous ? { from, trusted: { checkpoint: previous, frontier: previousFrontier } } : { from };

/** The receive time of an append's records (one request, so one time); null if none says. */
function receivedAtOf(leaves: readonly { record: unknown }[]): string | null {
  for (const leaf of leaves) {
    const receivedAt = (leaf.record as { receivedAt?: unknown } | null)?.receivedAt;
    if (typeof receivedAt === 'string' && !Number.isNaN(Date.parse(receivedAt))) return receivedAt;
  }
  return null;
}

function safeJson(body: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(body));
  } catch {
    return undefined;
  }
}
