import { gunzipSync } from 'node:zlib';
import {
  ARCHIVE_PREFIXES,
  ArchivedAppend,
  ArchivedEvent,
  ArchivedKey,
  originFromSlug,
} from '#core/archive-layout.ts';
import { canonicalize } from '#core/canonical.ts';
import type { ArchiveStore } from '#core/ports.ts';
import type { PublicKeyInfo } from '#core/signer.ts';
import type { VerifyFailure } from '#core/verify-log.ts';
import type { AppendJson } from '#core/wire.ts';

/**
 * Reads a whole archive (or one tenant's part of it) into memory, checking what only the object layer can
 * show: every object parses, a leaf stored twice (a retried batch) has the same content both times, and an
 * append stored twice is the same append. Proofs are left to LogVerifier.
 */
export interface ArchiveContents {
  readonly keys: PublicKeyInfo[];
  /** Appends per origin, by start. */
  readonly appends: Map<string, Map<number, AppendJson>>;
  /** Event lines per origin, by leaf index (de-duplicated). */
  readonly events: Map<string, Map<number, ArchivedEvent>>;
  /** Object key each kept line came from (messages name it). */
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
  const eventsPrefix = options.tenant
    ? `${ARCHIVE_PREFIXES.events}tenant=${options.tenant}/`
    : ARCHIVE_PREFIXES.events;
  for await (const key of store.list(eventsPrefix)) {
    let text: string;
    try {
      text = gunzipSync(await body(store, key)).toString('utf8');
    } catch (error) {
      if (error instanceof ArchiveReadError) throw error;
      return fail({ check: 'format', message: `${key} is not a gzip object: ${(error as Error).message}` });
    }
    for (const line of lines(text, key)) addEvent(contents, line, key);
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

function addEvent(contents: ArchiveContents, line: unknown, key: string): void {
  const parsed = ArchivedEvent.safeParse(line);
  if (!parsed.success)
    fail({ check: 'format', message: `${key} holds a line that is not an archived event` });
  // Keep the line as stored (not zod's copy) so the record is hashed exactly as archived.
  const event = line as ArchivedEvent;
  const log = contents.events.get(event.origin) ?? new Map<number, ArchivedEvent>();
  contents.events.set(event.origin, log);
  const earlier = log.get(event.leafIndex);
  if (earlier && canonicalize(earlier) !== canonicalize(event)) {
    fail({
      origin: event.origin,
      check: 'record',
      leafIndex: event.leafIndex,
      eventId: String(event.record.id),
      message: `two different records at leaf ${event.leafIndex}: in ${contents.sources.get(`e:${event.origin}:${event.leafIndex}`)} and ${key}`,
    });
  }
  log.set(event.leafIndex, event);
  if (!earlier) contents.sources.set(`e:${event.origin}:${event.leafIndex}`, key);
}
