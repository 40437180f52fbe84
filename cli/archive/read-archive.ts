import {
  ARCHIVE_PREFIXES,
  ArchivedAppend,
  ArchivedKey,
  type ArchivedLine,
  EventLineError,
  originFromSlug,
  readEventLines,
} from '#core/archive-layout.ts';
import { gunzipBytes } from '#core/archiving.ts';
import { canonicalize } from '#core/canonical.ts';
import { LeafSlots } from '#core/leaf-slots.ts';
import { equalBytes, utf8Text } from '#core/merkle.ts';
import type { ArchiveStore } from '#core/ports.ts';
import type { PublicKeyInfo } from '#core/signer.ts';
import type { VerifyFailure } from '#core/verify-log.ts';
import type { AppendJson } from '#core/wire.ts';

/**
 * Reads a whole archive (or one tenant's part of it) into memory, checking what only the object layer can
 * show: every object parses, a leaf stored twice (a retried batch) has the same content both times, and an
 * append stored twice is the same append. Proofs are left to LogVerifier.
 *
 * Events lines are kept as read by `readEventLines`: the record as its exact stored bytes (the leaf, a view
 * into the object's inflated bytes), never decoded or parsed here, so memory is about the archive's
 * uncompressed size plus a small object per line. Decode (`recordTextOf`) where a record's fields are needed.
 */
export interface ArchiveContents {
  readonly keys: PublicKeyInfo[];
  /** Appends per origin, by start. */
  readonly appends: Map<string, Map<number, AppendJson>>;
  /** Event lines per origin, by leaf index (de-duplicated). */
  readonly events: Map<string, LeafSlots<ArchivedLine>>;
  /** Object key each kept append came from (messages name it). */
  readonly sources: Map<string, string>;
  readonly objects: number;
}

export class ArchiveReadError extends Error {
  override readonly name = 'ArchiveReadError';
  constructor(readonly failure: VerifyFailure) {
    super(failure.message);
  }
}

const UNKNOWN = '(archive)';
function fail(failure: Omit<VerifyFailure, 'origin'> & { origin?: string }): never {
  throw new ArchiveReadError({ origin: UNKNOWN, ...failure });
}

function lines(text: string, key: string): unknown[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line, i) => {
      try {
        return JSON.parse(line);
      } catch {
        return fail({ check: 'format', message: `${key} line ${i + 1} is not JSON` });
      }
    });
}

async function body(store: ArchiveStore, key: string): Promise<Uint8Array> {
  const bytes = await store.get(key);
  if (!bytes) return fail({ check: 'format', message: `${key} was listed but cannot be read` });
  return bytes;
}

export interface ReadOptions {
  /** Only this tenant's events and appends (every key is read). */
  readonly tenant?: string;
  /** Only appends of these origins (default: all). */
  readonly origins?: (origin: string) => boolean;
  readonly onObject?: (done: number) => void;
}

/** One object as stored (an events object still gzipped). */
export interface StoredObject {
  readonly key: string;
  readonly body: Uint8Array;
}

/** The archive's objects as stored, read once, in key order, for `parseArchive`. */
export interface StoredArchive {
  readonly keys: readonly StoredObject[];
  readonly checkpoints: readonly StoredObject[];
  readonly events: readonly StoredObject[];
}

export async function readArchive(store: ArchiveStore, options: ReadOptions = {}): Promise<ArchiveContents> {
  return parseArchive(await loadArchive(store, options), options);
}

/**
 * Reads the objects of the archive (or of one tenant's part, or some origins' appends), without parsing them.
 * Up to `READS_IN_FLIGHT` objects are read at once (an S3 archive is thousands of small GETs); each list
 * keeps key order.
 */
export async function loadArchive(store: ArchiveStore, options: ReadOptions = {}): Promise<StoredArchive> {
  let objects = 0;
  const load = async (keys: readonly string[]): Promise<StoredObject[]> =>
    mapInFlight(keys, READS_IN_FLIGHT, async (key) => {
      const object = { key, body: await body(store, key) };
      options.onObject?.(++objects);
      return object;
    });
  const listed = async (prefix: string) => {
    const keys: string[] = [];
    for await (const key of store.list(prefix)) keys.push(key);
    return keys;
  };
  const keys = await load(await listed(ARCHIVE_PREFIXES.keys));
  const checkpointKeys = (await listed(ARCHIVE_PREFIXES.checkpoints)).filter((key) => {
    const origin = originFromSlug(key.slice(ARCHIVE_PREFIXES.checkpoints.length).split('/')[0] ?? '');
    return !options.origins || options.origins(origin);
  });
  const checkpoints = await load(checkpointKeys);
  const eventsPrefix = options.tenant
    ? `${ARCHIVE_PREFIXES.events}tenant=${options.tenant}/`
    : ARCHIVE_PREFIXES.events;
  const events = await load(await listed(eventsPrefix));
  return { keys, checkpoints, events };
}

const READS_IN_FLIGHT = 16;

/** `items.map(work)` with at most `limit` calls pending at once; results in the items' order. */
async function mapInFlight<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Parses loaded objects into `ArchiveContents`, with the checks described there; throws `ArchiveReadError`. */
export function parseArchive(
  stored: StoredArchive,
  options: Pick<ReadOptions, 'tenant'> = {},
): ArchiveContents {
  const contents: ArchiveContents = {
    keys: stored.keys.map(({ key, body }) => parseKey(body, key)),
    appends: new Map(),
    events: new Map(),
    sources: new Map(),
    objects: stored.keys.length + stored.checkpoints.length + stored.events.length,
  };
  for (const { key, body } of stored.checkpoints) {
    for (const line of lines(Buffer.from(body).toString('utf8'), key)) {
      if (!options.tenant || (line as { tenant?: unknown }).tenant === options.tenant)
        addAppend(contents, line, key);
    }
  }
  // The lines each events object gave, to name the object of a line when another object contradicts it.
  const read: EventsObject[] = [];
  for (const { key, body } of stored.events) {
    const object = { key, lines: readEventsLines(body, key) };
    read.push(object);
    for (const line of object.lines) addEvent(contents, line, object, read);
  }
  return contents;
}

function readEventsLines(body: Uint8Array, key: string): ArchivedLine[] {
  let bytes: Buffer;
  try {
    bytes = gunzipBytes(body);
  } catch (error) {
    return fail({ check: 'format', message: `${key} is not a gzip object: ${(error as Error).message}` });
  }
  try {
    return readEventLines(bytes);
  } catch (error) {
    if (!(error instanceof EventLineError)) throw error;
    return fail({ check: 'format', message: `${key} line ${error.line} ${error.message}` });
  }
}

/** A keys/ object's public key; throws `ArchiveReadError` for anything else. */
export function parseKey(bytes: Uint8Array, key: string): PublicKeyInfo {
  const parsed = ArchivedKey.safeParse(lines(utf8Text(bytes), key)[0]);
  if (!parsed.success) return fail({ check: 'format', message: `${key} is not a public key object` });
  return parsed.data;
}

function addAppend(contents: ArchiveContents, line: unknown, key: string): void {
  const parsed = ArchivedAppend.safeParse(line);
  if (!parsed.success) fail({ check: 'format', message: `${key} holds a line that is not an append record` });
  const append = parsed.data;
  const log = contents.appends.get(append.origin) ?? new Map<number, AppendJson>();
  contents.appends.set(append.origin, log);
  const earlier = log.get(append.start);
  if (earlier && canonicalize(earlier) !== canonicalize(append)) {
    fail({
      origin: append.origin,
      check: 'fork',
      leafIndex: append.start,
      appendStart: append.start,
      message: `two different appends start at leaf ${append.start}: in ${contents.sources.get(`a:${append.origin}:${append.start}`)} and ${key}`,
    });
  }
  log.set(append.start, append);
  if (!earlier) contents.sources.set(`a:${append.origin}:${append.start}`, key);
}

interface EventsObject {
  readonly key: string;
  readonly lines: readonly ArchivedLine[];
}

function addEvent(
  contents: ArchiveContents,
  line: ArchivedLine,
  object: EventsObject,
  read: readonly EventsObject[],
): void {
  let log = contents.events.get(line.origin);
  if (!log) {
    log = new LeafSlots();
    contents.events.set(line.origin, log);
  }
  const earlier = log.get(line.leafIndex);
  if (!earlier) {
    log.set(line.leafIndex, line);
    return;
  }
  // A leaf stored twice is stored with the same bytes: the record's bytes are the leaf, compared exactly.
  if (
    !equalBytes(earlier.recordBytes, line.recordBytes) ||
    earlier.eventId !== line.eventId ||
    earlier.leafHash !== line.leafHash ||
    earlier.appendStart !== line.appendStart
  ) {
    const source = read.find((other) => other.lines.includes(earlier))?.key;
    fail({
      origin: line.origin,
      check: 'record',
      leafIndex: line.leafIndex,
      eventId: line.eventId,
      message: `two different records at leaf ${line.leafIndex}: in ${source} and ${object.key}`,
    });
  }
}
