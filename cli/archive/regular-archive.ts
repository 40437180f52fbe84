import { ARCHIVE_PREFIXES, originFromSlug } from '#core/archive-layout.ts';
import { gunzipBytes } from '#core/archiving.ts';
import { utf8Text } from '#core/merkle.ts';
import { keyMap, type PublicKeyInfo } from '#core/signer.ts';
import { type BytesLeaf, LogVerifier } from '#core/verify-log.ts';
import type { AppendJson } from '#core/wire.ts';
import { type LogReport, logReport, type TrailReport, trailTotals } from '../verify-trail.ts';
import { ArchiveReadError, parseKey, type StoredArchive, type StoredObject } from './read-archive.ts';

/**
 * The fast path of archive verification, for an archive laid out as the archiver writes it ("regular"): for
 * each log, the appends follow one another from leaf 0, and the events objects hold runs of consecutive
 * leaves that together cover the appends' leaves exactly once, in key order, one line per leaf.
 *
 * Lines are not parsed. Each line's header is compared byte for byte with the header the archiver writes for
 * that leaf (`{"appendStart":…,"eventId":"…","leafHash":"`, the stored hash, then
 * `","leafIndex":…,"origin":…,"record":{`), which checks every header byte; the record's bytes and the stored
 * leaf hash go to `LogVerifier` as a byte leaf, which checks them as it does on any path (leaf hash, the
 * record's own id, roots, signatures, frontiers, the chain of checkpoints). Events objects are inflated one
 * at a time (CRC-32 checked), so memory holds the stored objects and one inflated object besides the appends.
 *
 * It only ever accepts: anything irregular or any failed check returns undefined, and the caller verifies the
 * archive again on the full path (`parseArchive` + `verifyTrail`), which also accepts irregular but valid
 * archives (a retried batch stored twice) and names precisely what is wrong. What the full path checks beyond
 * the logs holds here by construction: every archived line was one verified leaf, none is stored twice.
 */
export function verifyRegularArchive(
  stored: StoredArchive,
  options: {
    readonly tenant?: string;
    readonly onProgress?: (progress: { phase: 'logs'; done: number; total: number }) => void;
  } = {},
): Omit<TrailReport, 'elapsedMs'> | undefined {
  const keys = readKeys(stored.keys);
  const appends = readAppends(stored.checkpoints, options.tenant);
  const runs = readRuns(stored.events);
  if (!keys || !appends || !runs || !sameOrigins(appends, runs)) return undefined;
  const total = [...appends.values()].reduce((sum, log) => sum + log.at(-1)!.size, 0);
  const logs: LogReport[] = [];
  const keysById = keyMap(keys);
  let done = 0;
  for (const origin of [...appends.keys()].sort()) {
    const log = appends.get(origin)!;
    const head = log.at(-1)!;
    const verifier = new LogVerifier({ origin, keys: keysById, knownCheckpoints: [head.checkpoint] });
    const lines = new LineReader(origin, runs.get(origin)!);
    for (const append of log) {
      const leaves = lines.leavesOf(append);
      if (!leaves || verifier.push({ ...append, leaves }) !== undefined) return undefined;
      done += leaves.length;
      options.onProgress?.({ phase: 'logs', done, total });
    }
    const verified = verifier.finish({ expectedMinimumSize: head.size });
    if (verified.failure || !lines.finished()) return undefined;
    logs.push(logReport(verified));
  }
  if (recordsAnEventTwice(appends)) return undefined;
  return { ok: true, logs, totals: trailTotals(logs), eventsListed: done };
}

/**
 * Whether an event id is on two leaves of one tenant (the full path then names both; two tenants may share
 * an id, as the ledger keys events by tenant and id). Checked in one pass at the end rather than leaf by
 * leaf: sets of every id, filled in between hashing records, cost several times more in cache misses.
 */
function recordsAnEventTwice(appends: ReadonlyMap<string, readonly AppendJson[]>): boolean {
  const byTenant = new Map<string, { ids: Set<string>; leaves: number }>();
  for (const log of appends.values()) {
    for (const append of log) {
      let tenant = byTenant.get(append.tenant);
      if (!tenant) {
        tenant = { ids: new Set(), leaves: 0 };
        byTenant.set(append.tenant, tenant);
      }
      for (const eventId of append.eventIds) tenant.ids.add(eventId);
      tenant.leaves += append.eventIds.length;
    }
  }
  return [...byTenant.values()].some((tenant) => tenant.ids.size !== tenant.leaves);
}

/** The public keys, read as the full path reads them; undefined if one is not a key object. */
function readKeys(objects: readonly StoredObject[]): PublicKeyInfo[] | undefined {
  try {
    return objects.map(({ key, body }) => parseKey(body, key));
  } catch (error) {
    if (error instanceof ArchiveReadError) return undefined;
    throw error;
  }
}

/**
 * Appends per origin in order, starting at leaf 0 and each starting where the one before ended. Only the
 * fields that place an append are looked at here; `LogVerifier` checks each append's whole shape.
 */
function readAppends(
  objects: readonly StoredObject[],
  tenant: string | undefined,
): Map<string, AppendJson[]> | undefined {
  const byOrigin = new Map<string, AppendJson[]>();
  for (const { body } of objects) {
    for (const line of utf8Text(body).split('\n')) {
      if (line === '') continue;
      const append = parseJson(line) as Partial<Record<keyof AppendJson, unknown>> | undefined;
      if (!isPlaced(append)) return undefined;
      if (tenant !== undefined && append.tenant !== tenant) continue;
      const log = byOrigin.get(append.origin) ?? [];
      byOrigin.set(append.origin, log);
      log.push(append as AppendJson);
    }
  }
  for (const log of byOrigin.values()) {
    log.sort((a, b) => a.start - b.start);
    if (log.some((append, i) => append.start !== (i === 0 ? 0 : log[i - 1]!.size))) return undefined;
  }
  return byOrigin;
}

/** An events object: a run of one log's consecutive leaves, named by its key. */
interface Run {
  readonly key: string;
  readonly first: number;
  readonly last: number;
  readonly body: Uint8Array;
}

function isPlaced(
  append: Partial<Record<keyof AppendJson, unknown>> | undefined,
): append is Pick<AppendJson, 'origin' | 'tenant' | 'start' | 'size' | 'eventIds'> {
  return (
    typeof append === 'object' &&
    append !== null &&
    typeof append.origin === 'string' &&
    typeof append.tenant === 'string' &&
    Number.isSafeInteger(append.start) &&
    Number.isSafeInteger(append.size) &&
    Array.isArray(append.eventIds) &&
    append.eventIds.every((id) => typeof id === 'string')
  );
}

const RUN_KEY = /^events\/tenant=[^/]+\/dt=\d{4}-\d{2}-\d{2}\/([^/]+)-(\d{16})-(\d{16})\.jsonl\.gz$/;

/** Events objects per origin, by first leaf; undefined if a key is not an archiver's key. */
function readRuns(objects: readonly StoredObject[]): Map<string, Run[]> | undefined {
  const byOrigin = new Map<string, Run[]>();
  for (const { key, body } of objects) {
    const match = RUN_KEY.exec(key);
    if (!match || !key.startsWith(ARCHIVE_PREFIXES.events)) return undefined;
    let origin: string;
    try {
      origin = originFromSlug(match[1]!);
    } catch {
      return undefined;
    }
    const run = { key, first: Number(match[2]), last: Number(match[3]), body };
    if (!Number.isSafeInteger(run.last) || run.last < run.first) return undefined;
    const runs = byOrigin.get(origin) ?? [];
    byOrigin.set(origin, runs);
    runs.push(run);
  }
  for (const runs of byOrigin.values()) runs.sort((a, b) => a.first - b.first);
  return byOrigin;
}

function sameOrigins(appends: ReadonlyMap<string, unknown>, runs: ReadonlyMap<string, unknown>): boolean {
  return appends.size === runs.size && [...appends.keys()].every((origin) => runs.has(origin));
}

const NEWLINE = 0x0a;
const CLOSE_BRACE = 0x7d;
const LEAF_HASH_HEX = 64;

/**
 * Reads one log's leaves from its runs in order: leaf i is the next line of the run that holds i, and a run
 * is inflated when its first leaf is reached. Any line that is not exactly the archiver's line for its leaf,
 * a run that does not start where the previous one ended, or one with more or fewer lines than its key
 * names, ends the fast path (undefined).
 */
class LineReader {
  /** The end of every header of this log: `,"origin":"…","record":{`. */
  private readonly logHeader: Buffer;
  private next = 0;
  private run = -1;
  private bytes: Buffer = Buffer.alloc(0);
  private position = 0;

  constructor(
    origin: string,
    private readonly runs: readonly Run[],
  ) {
    this.logHeader = Buffer.from(`,"origin":${JSON.stringify(origin)},"record":{`, 'utf8');
  }

  leavesOf(append: AppendJson): BytesLeaf[] | undefined {
    const leaves: BytesLeaf[] = [];
    const appendHeader = Buffer.from(`{"appendStart":${append.start},"eventId":"`, 'latin1');
    for (let offset = 0; offset < append.eventIds.length; offset++) {
      if (!this.atLine()) return undefined;
      const leaf = this.readLine(appendHeader, append.start + offset, append.eventIds[offset]!);
      if (!leaf) return undefined;
      leaves.push(leaf);
    }
    return leaves;
  }

  /** Whether every run was read to its end. */
  finished(): boolean {
    return this.run === this.runs.length - 1 && this.position === this.bytes.length;
  }

  /** Moves to the next run when the current one is read up; false if the next leaf is in no run. */
  private atLine(): boolean {
    if (this.position < this.bytes.length) return true;
    const current = this.runs[this.run];
    if (current && this.next !== current.last + 1) return false;
    const run = this.runs[this.run + 1];
    if (!run || run.first !== this.next) return false;
    try {
      this.bytes = gunzipBytes(run.body);
    } catch {
      return false;
    }
    this.run += 1;
    this.position = 0;
    return this.bytes.length > 0;
  }

  /**
   * The next line as the leaf `leafIndex`, if it is byte for byte the archiver's line for that leaf. The
   * header is compared in place, piece by piece: the append's part, the event id, the stored leaf hash (kept,
   * for LogVerifier to compare), the leaf index and the log's part. Only the leaf hash becomes a string.
   */
  private readLine(appendHeader: Buffer, leafIndex: number, eventId: string): BytesLeaf | undefined {
    const { bytes, position } = this;
    const end = bytes.indexOf(NEWLINE, position);
    if (end < 0 || bytes[end - 1] !== CLOSE_BRACE || leafIndex > this.runs[this.run]!.last) return undefined;
    // Each piece is compared where the one before ended; -1 once one differs.
    let at = bytesAt(bytes, position, appendHeader);
    at = plainTextAt(bytes, at, eventId);
    at = bytesAt(bytes, at, LEAF_HASH_KEY);
    const hashAt = at;
    at = bytesAt(bytes, at < 0 ? at : at + LEAF_HASH_HEX, LEAF_INDEX_KEY);
    at = numberAt(bytes, at, leafIndex);
    at = bytesAt(bytes, at, this.logHeader);
    if (at < 0) return undefined;
    // `at` is past the record's `{`; the line's final `}` must come after it.
    if (at > end - 1) return undefined;
    this.position = end + 1;
    this.next = leafIndex + 1;
    return {
      leafIndex,
      eventId,
      leafHash: latin1(bytes, hashAt, hashAt + LEAF_HASH_HEX),
      // From the record's `{` (the last byte of the header) to before the line's final `}`.
      recordBytes: bytes.subarray(at - 1, end - 1),
    };
  }
}

/** The offset after `expected` if `bytes` hold it at `at` (not -1), else -1. */
function bytesAt(bytes: Buffer, at: number, expected: Buffer): number {
  if (at < 0 || at + expected.length > bytes.length) return -1;
  for (let i = 0; i < expected.length; i++) if (bytes[at + i] !== expected[i]) return -1;
  return at + expected.length;
}

/**
 * The offset after `text` if `bytes` hold it at `at`, as JSON writes it: `text` must be printable ASCII
 * other than `"` and `\\`. An id with any other character (escaped in JSON, or UTF-8) never matches, and its
 * line goes to the full path, which decodes it.
 */
function plainTextAt(bytes: Buffer, at: number, text: string): number {
  if (at < 0 || at + text.length > bytes.length) return -1;
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (char < 0x20 || char > 0x7e || char === QUOTE || char === BACKSLASH || bytes[at + i] !== char)
      return -1;
  }
  return at + text.length;
}

/** The offset after the digits of `value` (a whole number, as JSON writes it) if `bytes` hold them at `at`. */
function numberAt(bytes: Buffer, at: number, value: number): number {
  if (at < 0) return -1;
  let end = at;
  let read = 0;
  while (end < bytes.length && bytes[end]! >= ZERO && bytes[end]! <= NINE)
    read = read * 10 + bytes[end++]! - ZERO;
  const digits = end - at;
  // No leading zero, and few enough digits to be exact (a log's size stays below 2^53).
  if (digits === 0 || digits > 16 || (digits > 1 && bytes[at] === ZERO) || read !== value) return -1;
  return end;
}

/**
 * Bytes as latin1 text (one char per byte). `latin1Slice` is what `toString('latin1', …)` calls after
 * resolving its encoding argument; called directly, once per line, it saves that work.
 */
const latin1 = (bytes: Buffer, start: number, end: number): string =>
  (bytes as Buffer & { latin1Slice(start: number, end: number): string }).latin1Slice(start, end);

const LEAF_HASH_KEY = Buffer.from('","leafHash":"', 'latin1');
const LEAF_INDEX_KEY = Buffer.from('","leafIndex":', 'latin1');
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const ZERO = 0x30;
const NINE = 0x39;

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
