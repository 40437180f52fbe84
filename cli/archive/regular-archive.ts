import { ARCHIVE_PREFIXES, originFromSlug } from '#core/archive-layout.ts';
import { gunzipBytes } from '#core/archiving.ts';
import { EventLinesReader, type HashedLeaves } from '#core/line-kernel.ts';
import { utf8Text } from '#core/merkle.ts';
import { keyMap, type PublicKeyInfo } from '#core/signer.ts';
import { LogVerifier } from '#core/verify-log.ts';
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
  const leavesByTenant = new Map<string, HashedLeaves[]>();
  let done = 0;
  for (const origin of [...appends.keys()].sort()) {
    const log = appends.get(origin)!;
    const head = log.at(-1)!;
    const verifier = new LogVerifier({ origin, keys: keysById, knownCheckpoints: [head.checkpoint] });
    const lines = new LineReader(origin, runs.get(origin)!);
    for (const append of log) {
      const leaves = lines.leavesOf(append);
      if (!leaves || verifier.push({ ...append, leaves }) !== undefined) return undefined;
      leavesByTenant.get(append.tenant)?.push(leaves) ?? leavesByTenant.set(append.tenant, [leaves]);
      done += leaves.count;
      options.onProgress?.({ phase: 'logs', done, total });
    }
    const verified = verifier.finish({ expectedMinimumSize: head.size });
    if (verified.failure || !lines.finished()) return undefined;
    logs.push(logReport(verified));
  }
  if ([...leavesByTenant.values()].some(repeatsAnEventId)) return undefined;
  return { ok: true, logs, totals: trailTotals(logs), eventsListed: done };
}

/**
 * Whether an event id is on two leaves of one tenant (the full path then names both; two tenants may share
 * an id, as the ledger keys events by tenant and id). Checked once at the end, from the ids' hashes the
 * line kernel computed as it read each id.
 */
function repeatsAnEventId(leaves: readonly HashedLeaves[]): boolean {
  const ids: string[] = [];
  const hashes = new Uint32Array(leaves.reduce((sum, append) => sum + append.count, 0));
  for (const append of leaves) {
    hashes.set(append.idHashes, ids.length);
    for (const id of append.eventIds) ids.push(id);
  }
  return repeatsAString(ids, hashes);
}

/**
 * Whether a string is in `strings` twice, given a 32-bit hash of each (equal strings, equal hashes): an
 * open-addressing table of the hashes, with strings compared only when their hashes are equal. Several
 * times cheaper than a Set of the strings, which hashes each string again.
 */
export function repeatsAString(strings: readonly string[], hashes: Uint32Array): boolean {
  const slots = new Int32Array(2 ** Math.ceil(Math.log2(2 * strings.length + 2)));
  const mask = slots.length - 1;
  for (let i = 0; i < strings.length; i++) {
    const hash = hashes[i]!;
    let slot = hash & mask;
    for (let other = slots[slot]!; other !== 0; other = slots[slot]!) {
      if (hashes[other - 1] === hash && strings[other - 1] === strings[i]) return true;
      slot = (slot + 1) & mask;
    }
    slots[slot] = i + 1;
  }
  return false;
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

/**
 * Reads one log's leaves from its runs in order: leaf i is the next line of the run that holds i, and a run
 * is inflated when its first leaf is reached. `EventLinesReader` checks the lines and hashes the records; a
 * run that does not start where the previous one ended, or one with more or fewer lines than its key names,
 * ends the fast path (undefined).
 */
class LineReader {
  private readonly lines: EventLinesReader;
  private next = 0;
  private run = -1;

  constructor(
    origin: string,
    private readonly runs: readonly Run[],
  ) {
    this.lines = new EventLinesReader(origin);
  }

  leavesOf(append: AppendJson): HashedLeaves | undefined {
    if (append.start !== this.next) return undefined;
    const leaves = EventLinesReader.leavesFor(append.start, append.eventIds);
    for (let offset = 0; offset < leaves.count; ) {
      const run = this.runWithNextLeaf();
      if (!run) return undefined;
      const count = Math.min(leaves.count - offset, run.last + 1 - this.next);
      if (!this.lines.readLeaves(leaves, offset, count)) return undefined;
      offset += count;
      this.next += count;
    }
    return leaves;
  }

  /** Whether every run was read to its end. */
  finished(): boolean {
    const last = this.runs.at(-1);
    return this.run === this.runs.length - 1 && this.next === (last?.last ?? -1) + 1 && this.lines.atEnd;
  }

  /** The run holding the next leaf, inflated and loaded when it is reached; undefined if there is none. */
  private runWithNextLeaf(): Run | undefined {
    const current = this.runs[this.run];
    if (current && this.next <= current.last) return this.lines.atEnd ? undefined : current;
    // The current run must be read up, and the next one must start where it ended.
    if (current && !this.lines.atEnd) return undefined;
    const run = this.runs[this.run + 1];
    if (!run || run.first !== this.next) return undefined;
    try {
      this.lines.load(gunzipBytes(run.body));
    } catch {
      return undefined;
    }
    this.run += 1;
    return run;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
