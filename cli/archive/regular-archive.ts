import { hash } from 'node:crypto';
import { ARCHIVE_PREFIXES, originFromSlug } from '#core/archive-layout.ts';
import { gunzipBytes } from '#core/archiving.ts';
import { EventLinesReader, type HashedLeaves } from '#core/line-kernel.ts';
import { equalBytes, utf8Text } from '#core/merkle.ts';
import type { ArchiveStore } from '#core/ports.ts';
import { keyMap, type PublicKeyInfo } from '#core/signer.ts';
import { tenantOfOrigin } from '#core/tenancy.ts';
import { LogVerifier } from '#core/verify-log.ts';
import type { AppendJson } from '#core/wire.ts';
import { type LogReport, logReport, type TrailReport, trailTotals } from '../verify-trail.ts';
import { ArchiveReadError, parseKey } from './read-archive.ts';

/** What the fast path reports: the full path's report, and how many objects it read. */
export type RegularVerification = Omit<TrailReport, 'elapsedMs'> & { readonly objects: number };

export interface RegularOptions {
  /** Only the logs of this tenant (the tenant each log's signed origin names). */
  readonly tenant?: string;
  readonly onProgress?: (progress: { phase: 'logs'; done: number; total: number }) => void;
}

/**
 * The fast path of archive verification, for an archive laid out as the archiver writes it ("regular"): for
 * each log, the appends follow one another from leaf 0 through its checkpoints objects in key order, and its
 * events objects hold runs of consecutive leaves that together cover the appends' leaves, in key order, one
 * line per leaf. A retried archiver batch may have stored some appends or leaves again, in objects of their
 * own: each repeat must be exactly what was read before (an append's line, or a leaf's line: the same header,
 * a record with the same hash), within the last `REPEAT_WINDOW_APPENDS` appends and `REPEAT_WINDOW_LEAVES`
 * leaves.
 *
 * The archive is read as it is verified, log by log, each log's objects in order with up to
 * `READS_AHEAD` reads ahead: memory holds the objects being read and verified, the latest appends' leaf
 * hashes, and a 64-bit hash per event id (to find an id recorded twice), never the whole archive. Lines are
 * not parsed: `EventLinesReader` compares each line's header byte for byte with the header the archiver
 * writes for that leaf, checks the record's own id and hashes the record as stored; `LogVerifier` goes on
 * from the hashes (roots, signatures, frontiers, the chain of checkpoints).
 *
 * It only ever accepts: anything else or any failed check returns undefined, and the caller verifies the
 * archive again on the full path (`loadArchive`, `parseArchive` and `verifyTrail`), which names precisely
 * what is wrong. What the full path checks beyond the logs holds here by construction: every archived line
 * was a verified leaf's line, and a line stored twice is the same both times.
 */
export async function verifyRegularArchive(
  store: ArchiveStore,
  options: RegularOptions = {},
): Promise<RegularVerification | undefined> {
  try {
    return await verifyLogs(store, options);
  } catch (error) {
    // A listed object that cannot be read: the full path reports it.
    if (error instanceof ArchiveReadError) return undefined;
    throw error;
  }
}

async function verifyLogs(
  store: ArchiveStore,
  options: RegularOptions,
): Promise<RegularVerification | undefined> {
  const keyObjects = await listed(store, ARCHIVE_PREFIXES.keys);
  const checkpoints = groupCheckpoints(await listed(store, ARCHIVE_PREFIXES.checkpoints), options.tenant);
  const eventsPrefix = options.tenant
    ? `${ARCHIVE_PREFIXES.events}tenant=${options.tenant}/`
    : ARCHIVE_PREFIXES.events;
  const runs = groupRuns(await listed(store, eventsPrefix));
  if (!checkpoints || !runs || !sameOrigins(checkpoints, runs)) return undefined;
  const origins = [...checkpoints.keys()].sort();
  const reads = new Prefetcher(store, [
    ...keyObjects,
    ...origins.flatMap((origin) => readingOrder(checkpoints.get(origin)!, runs.get(origin)!)),
  ]);
  const keys = await readKeys(reads, keyObjects);
  if (!keys) return undefined;
  // For progress only: each log's size as its last checkpoints key names it.
  const total = [...checkpoints.values()].reduce((sum, log) => sum + log.at(-1)!.lastSize, 0);
  const keysById = keyMap(keys);
  const idHashesByTenant = new Map<string, Uint32Array[]>();
  const logs: LogReport[] = [];
  let objects = keyObjects.length;
  let done = 0;
  for (const origin of origins) {
    const tenant = tenantOfOrigin(origin) ?? '';
    const idHashes = idHashesByTenant.get(tenant) ?? [];
    idHashesByTenant.set(tenant, idHashes);
    const log = await verifyLog(
      reads,
      origin,
      checkpoints.get(origin)!,
      runs.get(origin)!,
      keysById,
      (leaves) => {
        idHashes.push(leaves.idHashes);
        done += leaves.count;
        options.onProgress?.({ phase: 'logs', done, total });
      },
    );
    if (!log) return undefined;
    logs.push(log.report);
    objects += log.objects;
  }
  if ([...idHashesByTenant.values()].some(repeatsAHash)) return undefined;
  return { ok: true, logs, totals: trailTotals(logs), eventsListed: done, objects };
}

/**
 * The order one log's objects are needed in: its last checkpoints object (the head) first, then checkpoints
 * and events objects by the first leaf they cover, as verifying goes through them.
 */
function readingOrder(sources: readonly AppendsObject[], runs: readonly Run[]): string[] {
  const byLeaf = [
    ...sources.slice(0, -1).map(({ key, first }) => ({ key, first, events: 0 })),
    ...runs.map(({ key, first }) => ({ key, first, events: 1 })),
  ].sort((a, b) => a.first - b.first || a.events - b.events);
  return [sources.at(-1)!.key, ...byLeaf.map(({ key }) => key)];
}

/**
 * One log, append by append as its objects arrive; `onLeaves` sees each append's leaves once they verified.
 * Its report and the objects it read, or undefined if anything is irregular or fails.
 */
async function verifyLog(
  reads: Prefetcher,
  origin: string,
  sources: readonly AppendsObject[],
  runs: readonly Run[],
  keys: ReadonlyMap<string, PublicKeyInfo>,
  onLeaves: (leaves: HashedLeaves) => void,
): Promise<{ report: LogReport; objects: number } | undefined> {
  const appends = new AppendReader(reads, sources, origin);
  const head = await appends.head();
  if (!head) return undefined;
  const verifier = new LogVerifier({ origin, keys, knownCheckpoints: [head.checkpoint] });
  const lines = new LineReader(reads, origin, runs);
  for (let append = await appends.next(); append; append = await appends.next()) {
    const leaves = await lines.leavesOf(append);
    if (!leaves || verifier.push({ ...append, leaves }) !== undefined) return undefined;
    onLeaves(leaves);
  }
  const verified = verifier.finish({ expectedMinimumSize: head.size });
  if (verified.failure || !appends.finished(head) || !(await lines.finished())) return undefined;
  return { report: logReport(verified), objects: appends.objects + lines.objects };
}

/**
 * Whether an event id may be on two leaves of one tenant: two equal 64-bit hashes of ids (the line kernel
 * hashed each id as it read it). A repeated id always gives one; so, very rarely, do two different ids, and
 * either way the full path, which compares the ids themselves, decides and names both leaves. Two tenants
 * may share an id (the ledger keys events by tenant and id), so each tenant is checked on its own.
 */
function repeatsAHash(chunks: readonly Uint32Array[]): boolean {
  const hashes = new Uint32Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    hashes.set(chunk, at);
    at += chunk.length;
  }
  return repeatsAPair(hashes);
}

/**
 * Whether two of the 64-bit values in `words` (pairs of 32-bit words, low then high) are equal: an
 * open-addressing table indexed by the low word. Several times cheaper than a Set of the ids.
 */
export function repeatsAPair(words: Uint32Array): boolean {
  const count = words.length / 2;
  const slots = new Int32Array(2 ** Math.ceil(Math.log2(2 * count + 2)));
  const mask = slots.length - 1;
  for (let i = 0; i < count; i++) {
    const low = words[2 * i]!;
    const high = words[2 * i + 1]!;
    let slot = (low ^ Math.imul(high, 0x9e3779b1)) & mask;
    for (let other = slots[slot]!; other !== 0; other = slots[slot]!) {
      if (words[2 * (other - 1)] === low && words[2 * (other - 1) + 1] === high) return true;
      slot = (slot + 1) & mask;
    }
    slots[slot] = i + 1;
  }
  return false;
}

async function listed(store: ArchiveStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const key of store.list(prefix)) keys.push(key);
  return keys;
}

/** The public keys, read as the full path reads them; undefined if one is not a key object. */
async function readKeys(reads: Prefetcher, keys: readonly string[]): Promise<PublicKeyInfo[] | undefined> {
  const parsed: PublicKeyInfo[] = [];
  for (const key of keys) {
    try {
      parsed.push(parseKey(await reads.take(key), key));
    } catch (error) {
      if (error instanceof ArchiveReadError) return undefined;
      throw error;
    }
  }
  return parsed;
}

/** A checkpoints object: a run of one log's appends, named by its key (first start, last size). */
interface AppendsObject {
  readonly key: string;
  readonly first: number;
  readonly lastSize: number;
}

const CHECKPOINTS_KEY = /^checkpoints\/([^/]+)\/(\d{16})-(\d{16})\.jsonl$/;

/** Checkpoints objects per origin, in key order; undefined if a key is not an archiver's key. */
function groupCheckpoints(
  keys: readonly string[],
  tenant: string | undefined,
): Map<string, AppendsObject[]> | undefined {
  const byOrigin = new Map<string, AppendsObject[]>();
  for (const key of keys) {
    const match = CHECKPOINTS_KEY.exec(key);
    const origin = match && originOf(match[1]!);
    if (!origin) return undefined;
    if (tenant !== undefined && tenantOfOrigin(origin) !== tenant) continue;
    const objects = byOrigin.get(origin) ?? [];
    byOrigin.set(origin, objects);
    objects.push({ key, first: Number(match[2]), lastSize: Number(match[3]) });
  }
  return byOrigin;
}

function originOf(slug: string): string | undefined {
  try {
    return originFromSlug(slug);
  } catch {
    return undefined;
  }
}

/**
 * One log's appends in order from its checkpoints objects, read as they are needed: each must start where
 * the one before ended, from leaf 0, and belong to the log. Only the fields that place an append are looked
 * at here; `LogVerifier` checks each append's whole shape.
 */
class AppendReader {
  /** The last object's appends, read first (for the head) and kept until their turn. */
  private readonly lastObject: Promise<AppendLine[] | undefined>;
  private object = -1;
  private appends: AppendLine[] = [];
  private position = 0;
  private size = 0;
  /**
   * A digest of the line of each of the latest appends taken, by start: an append stored again must be one of
   * them, unchanged. (Not the line itself: a line is a slice of its object's text, and would keep it all.)
   * Kept only if the keys show objects that overlap, the only way appends can be stored again.
   */
  private readonly taken = new Map<number, string>();
  private readonly mayRepeat: boolean;

  constructor(
    private readonly reads: Prefetcher,
    private readonly sources: readonly AppendsObject[],
    private readonly origin: string,
  ) {
    this.lastObject = reads.take(sources.at(-1)!.key).then((body) => this.parse(body));
    this.mayRepeat = sources.some((object, i) => i > 0 && object.first < sources[i - 1]!.lastSize);
  }

  /** Objects read so far (the last one counts once its turn comes). */
  get objects(): number {
    return this.object + 1;
  }

  /** The log's newest append: the last of its last checkpoints object. */
  async head(): Promise<AppendJson | undefined> {
    return (await this.lastObject)?.at(-1)?.append;
  }

  /**
   * The next append; undefined at the end, or when the appends do not follow one another. An append stored
   * again (a retried archiver batch) is passed over if it is, line for line, one of the latest appends taken.
   */
  async next(): Promise<AppendJson | undefined> {
    for (;;) {
      const next = await this.nextLine();
      if (!next) return undefined;
      const { append, line } = next;
      if (append.start === this.size) {
        this.take(append, line);
        return append;
      }
      if (append.start > this.size || this.taken.get(append.start) !== lineDigest(line)) return undefined;
    }
  }

  private async nextLine(): Promise<AppendLine | undefined> {
    while (this.position === this.appends.length) {
      if (this.object === this.sources.length - 1) return undefined;
      this.object += 1;
      const last = this.object === this.sources.length - 1;
      const appends = last
        ? await this.lastObject
        : this.parse(await this.reads.take(this.sources[this.object]!.key));
      if (!appends) return undefined;
      this.appends = appends;
      this.position = 0;
    }
    return this.appends[this.position++];
  }

  private take(append: AppendJson, line: string): void {
    this.size = append.size;
    if (!this.mayRepeat) return;
    this.taken.set(append.start, lineDigest(line));
    if (this.taken.size > REPEAT_WINDOW_APPENDS) this.taken.delete(this.taken.keys().next().value!);
  }

  /** Whether every object was read and the appends ended at `head`. */
  finished(head: AppendJson): boolean {
    return (
      this.object === this.sources.length - 1 &&
      this.position === this.appends.length &&
      this.size === head.size
    );
  }

  /** An object's appends in order, each of this log and placed by whole numbers; undefined otherwise. */
  private parse(body: Uint8Array): AppendLine[] | undefined {
    const appends: AppendLine[] = [];
    for (const line of utf8Text(body).split('\n')) {
      if (line === '') continue;
      const append = parseJson(line) as Partial<Record<keyof AppendJson, unknown>> | undefined;
      if (!isPlaced(append) || append.origin !== this.origin) return undefined;
      appends.push({ append: append as AppendJson, line });
    }
    return appends;
  }
}

const lineDigest = (line: string) => hash('sha256', line, 'base64');

/** An append and its line in a checkpoints object. */
interface AppendLine {
  readonly append: AppendJson;
  readonly line: string;
}

/**
 * How far back a stored-again append or leaf may reach (a retried archiver batch repeats at most one stream
 * batch): in appends, and in leaves. Anything older than these windows is left to the full path.
 */
const REPEAT_WINDOW_APPENDS = 1024;
const REPEAT_WINDOW_LEAVES = 16_384;

/**
 * Reads the archive's objects ahead of verifying, in the order verifying will ask for them (an S3 archive is
 * thousands of small GETs; reading ahead overlaps them with verifying, across logs too). At most
 * `READS_AHEAD` objects are read and not yet taken at any time, so memory stays bounded; an object asked
 * for out of order is read then.
 */
class Prefetcher {
  private readonly started = new Map<string, Promise<Uint8Array>>();
  /** Objects taken before the window reached them: the window skips them. */
  private readonly takenEarly = new Set<string>();
  private next = 0;

  constructor(
    private readonly store: ArchiveStore,
    private readonly order: readonly string[],
  ) {}

  /** An object's bytes; throws `ArchiveReadError` if it was listed but cannot be read. */
  take(key: string): Promise<Uint8Array> {
    let read = this.started.get(key);
    if (read) this.started.delete(key);
    else {
      read = this.read(key);
      this.takenEarly.add(key);
    }
    this.fill();
    return read;
  }

  private fill(): void {
    while (this.started.size < READS_AHEAD && this.next < this.order.length) {
      const key = this.order[this.next++]!;
      if (!this.takenEarly.delete(key)) this.started.set(key, this.read(key));
    }
  }

  private read(key: string): Promise<Uint8Array> {
    const read = this.store.get(key).then((body) => {
      if (body) return body;
      throw new ArchiveReadError({
        origin: '(archive)',
        check: 'format',
        message: `${key} was listed but cannot be read`,
      });
    });
    // Taken in turn; until then (or if verifying stops first) a failed read is no unhandled rejection.
    read.catch(() => undefined);
    return read;
  }
}

const READS_AHEAD = 16;

/** An events object: a run of one log's consecutive leaves, named by its key. */
interface Run {
  readonly key: string;
  readonly first: number;
  readonly last: number;
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

/**
 * Events objects per origin, by first leaf (keys are ordered by date first, so a log's runs are sorted here);
 * undefined if a key is not an archiver's key.
 */
function groupRuns(keys: readonly string[]): Map<string, Run[]> | undefined {
  const byOrigin = new Map<string, Run[]>();
  for (const key of keys) {
    const match = RUN_KEY.exec(key);
    const origin = match && originOf(match[1]!);
    if (!origin) return undefined;
    const run = { key, first: Number(match[2]), last: Number(match[3]) };
    if (!Number.isSafeInteger(run.last) || run.last < run.first) return undefined;
    const runs = byOrigin.get(origin) ?? [];
    byOrigin.set(origin, runs);
    runs.push(run);
  }
  for (const runs of byOrigin.values()) runs.sort((a, b) => a.first - b.first || a.last - b.last);
  return byOrigin;
}

function sameOrigins(appends: ReadonlyMap<string, unknown>, runs: ReadonlyMap<string, unknown>): boolean {
  return appends.size === runs.size && [...appends.keys()].every((origin) => runs.has(origin));
}

/**
 * Reads one log's leaves from its runs in order: leaf i is the next line of the run that holds i, and a run
 * is read ahead, then inflated when its first leaf is reached. `EventLinesReader` checks the lines and
 * hashes the records. A run may repeat leaves already read (a retried archiver batch stores some again): those
 * lines must be exactly the lines read before (the same header, and a record with the same hash). A run that
 * starts after the next leaf, repeats leaves older than the window kept, or holds more or fewer lines than its
 * key names ends the fast path (undefined).
 */
class LineReader {
  private readonly lines: EventLinesReader;
  private next = 0;
  private run = -1;
  /** The latest appends' leaves (the one being read included), to check the leaves a run repeats. */
  private readonly recent: HashedLeaves[] = [];
  private recentLeaves = 0;

  constructor(
    private readonly reads: Prefetcher,
    origin: string,
    private readonly runs: readonly Run[],
  ) {
    this.lines = new EventLinesReader(origin);
  }

  /** Objects read so far. */
  get objects(): number {
    return this.run + 1;
  }

  async leavesOf(append: AppendJson): Promise<HashedLeaves | undefined> {
    if (append.start !== this.next) return undefined;
    const leaves = EventLinesReader.leavesFor(append.start, append.eventIds);
    this.remember(leaves);
    for (let offset = 0; offset < leaves.count; ) {
      const run = await this.runWithNextLeaf();
      if (!run) return undefined;
      const count = Math.min(leaves.count - offset, run.last + 1 - this.next);
      if (!this.lines.readLeaves(leaves, offset, count)) return undefined;
      offset += count;
      this.next += count;
    }
    return leaves;
  }

  /** Whether every run was read to its end: runs left after the last leaf may only repeat leaves read. */
  async finished(): Promise<boolean> {
    while (this.run < this.runs.length - 1) {
      const run = await this.nextRun();
      if (!run || run.last >= this.next) return false;
    }
    const end = this.runs.reduce((last, run) => Math.max(last, run.last), -1) + 1;
    return this.next === end && this.lines.atEnd;
  }

  /** The run holding the next leaf, inflated and loaded when it is reached; undefined if there is none. */
  private async runWithNextLeaf(): Promise<Run | undefined> {
    let current = this.runs[this.run];
    while (!current || this.next > current.last) {
      current = await this.nextRun();
      if (!current) return undefined;
    }
    return this.lines.atEnd ? undefined : current;
  }

  /**
   * Moves on to the next run, once the current one is read up: it must start at or before the next leaf, and
   * the leaves it repeats are read and compared at once. Undefined if any of that does not hold.
   */
  private async nextRun(): Promise<Run | undefined> {
    if (!this.lines.atEnd) return undefined;
    const run = this.runs[this.run + 1];
    if (!run || run.first > this.next) return undefined;
    const body = await this.reads.take(run.key);
    this.run += 1;
    if (!this.load(body)) return undefined;
    const repeatedEnd = Math.min(run.last + 1, this.next);
    return this.readRepeated(run.first, repeatedEnd) ? run : undefined;
  }

  private load(body: Uint8Array): boolean {
    if (this.lines.loadGzip(body)) return true;
    try {
      this.lines.load(gunzipBytes(body));
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Reads the lines of leaves [from, to), already read once, and compares them with what was read: each
   * line checked as the archiver writes it for that leaf (so its header is the same), its record hashed to the
   * same leaf hash (so its record is the same).
   */
  private readRepeated(from: number, to: number): boolean {
    for (let leaf = from; leaf < to; ) {
      const read = this.recent.find((leaves) => leaves.start <= leaf && leaf < leaves.start + leaves.count);
      if (!read) return false;
      const offset = leaf - read.start;
      const count = Math.min(read.count - offset, to - leaf);
      const again = EventLinesReader.leavesFor(read.start, read.eventIds);
      if (!this.lines.readLeaves(again, offset, count) || !sameHashes(read, again, offset, count))
        return false;
      leaf += count;
    }
    return true;
  }

  /** Keeps an append's leaves while they are within the window of leaves a run may repeat. */
  private remember(leaves: HashedLeaves): void {
    this.recent.push(leaves);
    this.recentLeaves += leaves.count;
    while (this.recent.length > 1 && this.recentLeaves - this.recent[0]!.count >= REPEAT_WINDOW_LEAVES) {
      this.recentLeaves -= this.recent.shift()!.count;
    }
  }
}

/** Whether leaves [offset, offset + count) of two readings of one append hashed the same. */
function sameHashes(a: HashedLeaves, b: HashedLeaves, offset: number, count: number): boolean {
  const range = (leaves: HashedLeaves) => leaves.hashes.subarray(32 * offset, 32 * (offset + count));
  return equalBytes(range(a), range(b));
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
