import {
  ARCHIVE_PREFIXES,
  ArchivedAppend,
  ArchivedKey,
  type ArchivedLine,
  EventLineError,
  originFromSlug,
  readEventLines,
} from '#core/archive-layout.ts';
import { gunzipText } from '#core/archiving.ts';
import { canonicalize } from '#core/canonical.ts';
import type { ArchiveStore } from '#core/ports.ts';
import type { PublicKeyInfo } from '#core/signer.ts';
import type { VerifyFailure } from '#core/verify-log.ts';
import type { AppendJson } from '#core/wire.ts';

/**
 * Reads a whole archive (or one tenant's part of it) into memory, checking what only the object layer can
 * show: every object parses, a leaf stored twice (a retried batch) has the same content both times, and an
 * append stored twice is the same append. Proofs are left to LogVerifier.
 *
 * Events lines are kept as read by `readEventLines`: the record as its exact stored text (the leaf, a slice
 * of the object's text), never parsed here, so memory is about the archive's uncompressed size plus a small
 * object per line. Parse `recordText` where a record's fields are needed.
 */
export interface ArchiveContents {
  readonly keys: PublicKeyInfo[];
  /** Appends per origin, by start. */
  readonly appends: Map<string, Map<number, AppendJson>>;
  /** Event lines per origin, by leaf index (de-duplicated). */
  readonly events: Map<string, Map<number, ArchivedLine>>;
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

export async function readArchive(store: ArchiveStore, options: ReadOptions = {}): Promise<ArchiveContents> {
  const contents: ArchiveContents = {
    keys: [],
    appends: new Map(),
    events: new Map(),
    sources: new Map(),
    objects: 0,
  };
  let objects = 0;
  const tick = () => options.onObject?.(++objects);
  for await (const key of store.list(ARCHIVE_PREFIXES.keys)) {
    contents.keys.push(parseKey(await body(store, key), key));
    tick();
  }
  for await (const key of store.list(ARCHIVE_PREFIXES.checkpoints)) {
    const origin = originFromSlug(key.slice(ARCHIVE_PREFIXES.checkpoints.length).split('/')[0] ?? '');
    if (options.origins && !options.origins(origin)) continue;
    for (const line of lines(Buffer.from(await body(store, key)).toString('utf8'), key)) {
      if (!options.tenant || (line as { tenant?: unknown }).tenant === options.tenant)
        addAppend(contents, line, key);
    }
    tick();
  }
  // The lines each events object gave, to name the object of a line when another object contradicts it.
  const read: EventsObject[] = [];
  const eventsPrefix = options.tenant
    ? `${ARCHIVE_PREFIXES.events}tenant=${options.tenant}/`
    : ARCHIVE_PREFIXES.events;
  for await (const key of store.list(eventsPrefix)) {
    let text: string;
    try {
      text = gunzipText(await body(store, key));
    } catch (error) {
      if (error instanceof ArchiveReadError) throw error;
      return fail({ check: 'format', message: `${key} is not a gzip object: ${(error as Error).message}` });
    }
    let lines: ArchivedLine[];
    try {
      lines = readEventLines(text);
    } catch (error) {
      if (!(error instanceof EventLineError)) throw error;
      return fail({ check: 'format', message: `${key} line ${error.line} ${error.message}` });
    }
    const object = { key, lines };
    read.push(object);
    for (const line of lines) addEvent(contents, line, object, read);
    tick();
  }
  return { ...contents, objects };
}

function parseKey(bytes: Uint8Array, key: string): PublicKeyInfo {
  const parsed = ArchivedKey.safeParse(lines(Buffer.from(bytes).toString('utf8'), key)[0]);
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
    log = new Map();
    contents.events.set(line.origin, log);
  }
  const earlier = log.get(line.leafIndex);
  if (!earlier) {
    log.set(line.leafIndex, line);
    return;
  }
  // A leaf stored twice is stored with the same bytes: the record text is the leaf, compared exactly.
  if (
    earlier.recordText !== line.recordText ||
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
