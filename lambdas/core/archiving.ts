import { gunzipSync, gzipSync } from 'node:zlib';
import {
  ArchivedAppend,
  ArchivedEvent,
  ArchivedKey,
  type ArchivedLine,
  checkpointsObjectKey,
  type EventLineFields,
  eventLine,
  eventsObjectKey,
  keyObjectKey,
  readEventLines,
  recordTextOf,
} from './archive-layout.ts';
import { canonicalize } from './canonical.ts';
import { inflateSingleMember, outputSizeHint } from './gzip-member.ts';
import { toHex } from './merkle.ts';
import type { AppendRecord, StoredEvent } from './ports.ts';
import type { PublicKeyInfo } from './signer.ts';
import { appendToJson } from './wire.ts';

/**
 * What the archiver stores (see `archive-layout.ts` for the layout): it turns the ledger items of one stream
 * batch into archive objects. Pure: bytes depend only on the items, so a redelivered batch writes the same
 * keys with the same bytes (under Object Lock, a new version identical to the old one).
 */

/** A ledger item the archive keeps, decoded from a stream record. */
export type LedgerChange =
  | {
      readonly kind: 'event';
      readonly tenant: string;
      readonly eventId: string;
      readonly receivedAt: string;
      readonly line: EventLineFields;
      /** The events line itself (`eventLine`): what the object stores, and what identifies its content. */
      readonly text: string;
    }
  | { readonly kind: 'append'; readonly append: AppendRecord }
  | { readonly kind: 'key'; readonly key: PublicKeyInfo };

/** A change and where it sits in the stream batch (its record's index). */
export interface PositionedChange {
  readonly position: number;
  readonly change: LedgerChange;
}

export interface PlannedObject {
  readonly key: string;
  readonly body: Uint8Array;
  readonly contentType: string;
  /** Batch positions of the records this object stores, ascending. */
  readonly positions: readonly number[];
  /** Event records stored by this object (their hot-retention TTL may be set once it is written). */
  readonly events: readonly { readonly tenant: string; readonly eventId: string }[];
}

export interface ArchivePlan {
  /** In the order to write them: by the first batch position each holds. */
  readonly objects: readonly PlannedObject[];
  /**
   * Positions of records that claim a place (log and leaf, or log and append start) another record of the
   * batch holds with different content. Never archived: they are kept by failing them (dead letters).
   */
  readonly conflicts: readonly number[];
}

const ArchivedLineFields = ArchivedEvent.omit({ record: true });

export class UnarchivableRecordError extends Error {
  override readonly name = 'UnarchivableRecordError';
}

/**
 * The archived form of a stored event; throws UnarchivableRecordError if it cannot have one. The line embeds
 * the stored record text itself (`StoredEvent.record`, the canonical bytes the ingest hashed), so the bytes
 * between `"record":` and the line's final `}` are exactly the leaf (archive-layout.ts, "Events lines").
 */
export function eventChange(event: StoredEvent): LedgerChange {
  let record: unknown;
  try {
    record = JSON.parse(event.record);
  } catch (error) {
    throw new UnarchivableRecordError(`record of event ${event.eventId} is not JSON`, { cause: error });
  }
  if (typeof record !== 'object' || record === null || Array.isArray(record)) {
    throw new UnarchivableRecordError(`record of event ${event.eventId} is not a JSON object`);
  }
  const receivedAt = (record as { receivedAt?: unknown }).receivedAt;
  // The events object's dt partition comes from receivedAt, so it must be a real UTC timestamp.
  if (
    typeof receivedAt !== 'string' ||
    !/^\d{4}-\d{2}-\d{2}T/.test(receivedAt) ||
    Number.isNaN(Date.parse(receivedAt))
  ) {
    throw new UnarchivableRecordError(`record of event ${event.eventId} has no valid receivedAt`);
  }
  let canonical: string;
  try {
    canonical = canonicalize(record);
  } catch (error) {
    throw new UnarchivableRecordError(`record of event ${event.eventId} has no canonical form`, {
      cause: error,
    });
  }
  // The ingest stores the canonical text (the leaf), so the line takes the stored bytes as they are. A stored
  // text that is not canonical (whitespace, a raw line break that would split the JSON-lines object) is
  // archived in canonical form instead, as it always was; the verifier then compares it with the leaf hash.
  const recordText = canonical === event.record ? event.record : canonical;
  const fields = {
    appendStart: event.appendStart,
    eventId: event.eventId,
    leafHash: toHex(event.leafHash),
    leafIndex: event.leafIndex,
    origin: event.origin,
  };
  const fits = ArchivedLineFields.safeParse(fields);
  if (!fits.success) {
    throw new UnarchivableRecordError(
      `event ${event.eventId} does not fit the archive: ${fits.error.issues[0]?.message}`,
    );
  }
  const line: EventLineFields = fields;
  let text: string;
  try {
    text = eventLine(line, recordText);
  } catch (error) {
    throw new UnarchivableRecordError(
      `event ${event.eventId} does not fit the archive: ${(error as Error).message}`,
    );
  }
  return { kind: 'event', tenant: event.tenant, eventId: event.eventId, receivedAt, line, text };
}

/** Groups a batch's changes into archive objects: contiguous runs per log, one object per key. */
export function planArchive(changes: readonly PositionedChange[]): ArchivePlan {
  const events: Positioned<Extract<LedgerChange, { kind: 'event' }>>[] = [];
  const appends: Positioned<Extract<LedgerChange, { kind: 'append' }>>[] = [];
  const keys = new Map<string, Positioned<Extract<LedgerChange, { kind: 'key' }>>>();
  for (const { position, change } of changes) {
    if (change.kind === 'event') events.push({ position, change });
    else if (change.kind === 'append') appends.push({ position, change });
    else if (!keys.has(change.key.keyId)) keys.set(change.key.keyId, { position, change });
  }
  const conflicts: number[] = [];
  const eventRuns = runs(
    unique(
      events,
      (e) => `${e.change.line.origin}\n${e.change.line.leafIndex}`,
      (e) => e.change.text,
      conflicts,
    ),
    (e) => [e.change.tenant, e.change.line.origin, e.change.line.leafIndex],
    (previous, next) =>
      next.change.line.leafIndex === previous.change.line.leafIndex + 1 &&
      utcDate(next.change.receivedAt) === utcDate(previous.change.receivedAt),
  );
  const appendRuns = runs(
    unique(
      appends,
      (a) => `${a.change.append.origin}\n${a.change.append.start}`,
      (a) => appendLine(a.change.append),
      conflicts,
    ),
    (a) => ['', a.change.append.origin, a.change.append.start],
    (previous, next) => next.change.append.start === previous.change.append.size,
  );
  const objects = [
    ...eventRuns.map(eventsObject),
    ...appendRuns.map(checkpointsObject),
    ...[...keys.values()].map(keyObject),
  ].sort((a, b) => a.positions[0]! - b.positions[0]!);
  return { objects, conflicts: conflicts.sort((a, b) => a - b) };
}

interface Positioned<T> {
  readonly position: number;
  readonly change: T;
}

/** Drops exact repeats; a different content for the same identity is a conflict (the later position). */
function unique<T extends Positioned<unknown>>(
  items: readonly T[],
  identity: (item: T) => string,
  content: (item: T) => string,
  conflicts: number[],
): T[] {
  const seen = new Map<string, { item: T; content: string }>();
  for (const item of [...items].sort((a, b) => a.position - b.position)) {
    const id = identity(item);
    const previous = seen.get(id);
    if (!previous) seen.set(id, { item, content: content(item) });
    else if (previous.content !== content(item)) conflicts.push(item.position);
  }
  return [...seen.values()].map(({ item }) => item);
}

/** Sorts by (tenant, log, index) and cuts wherever `continues` says the next item does not extend the run. */
function runs<T extends Positioned<unknown>>(
  items: readonly T[],
  sortKey: (item: T) => [string, string, number],
  continues: (previous: T, next: T) => boolean,
): T[][] {
  const sorted = [...items].sort((a, b) => {
    const [ta, oa, ia] = sortKey(a);
    const [tb, ob, ib] = sortKey(b);
    return ta < tb ? -1 : ta > tb ? 1 : oa < ob ? -1 : oa > ob ? 1 : ia - ib;
  });
  const result: T[][] = [];
  for (const item of sorted) {
    const run = result[result.length - 1];
    const last = run?.[run.length - 1];
    const sameLog =
      last !== undefined && sortKey(last)[0] === sortKey(item)[0] && sortKey(last)[1] === sortKey(item)[1];
    if (run && last && sameLog && continues(last, item)) run.push(item);
    else result.push([item]);
  }
  return result;
}

const utcDate = (timestamp: string) => new Date(timestamp).toISOString().slice(0, 10);

const positionsOf = (items: readonly Positioned<unknown>[]) =>
  items.map((item) => item.position).sort((a, b) => a - b);

function eventsObject(run: Positioned<Extract<LedgerChange, { kind: 'event' }>>[]): PlannedObject {
  const first = run[0]!.change;
  const last = run[run.length - 1]!.change;
  const lines = run.map(({ change }) => change.text);
  return {
    key: eventsObjectKey(
      first.tenant,
      utcDate(first.receivedAt),
      first.line.origin,
      first.line.leafIndex,
      last.line.leafIndex,
    ),
    body: gzipDeterministic(jsonLines(lines)),
    contentType: 'application/gzip',
    positions: positionsOf(run),
    events: run.map(({ change }) => ({ tenant: change.tenant, eventId: change.eventId })),
  };
}

const appendLine = (append: AppendRecord) => canonicalize(appendToJson(append));

function checkpointsObject(run: Positioned<Extract<LedgerChange, { kind: 'append' }>>[]): PlannedObject {
  const first = run[0]!.change.append;
  const last = run[run.length - 1]!.change.append;
  return {
    key: checkpointsObjectKey(first.origin, first.start, last.size),
    body: jsonLines(run.map(({ change }) => appendLine(change.append))),
    contentType: 'application/x-ndjson',
    positions: positionsOf(run),
    events: [],
  };
}

function keyObject({ position, change }: Positioned<Extract<LedgerChange, { kind: 'key' }>>): PlannedObject {
  const { keyId, algorithm, publicKeyPem } = change.key;
  return {
    key: keyObjectKey(keyId),
    body: new TextEncoder().encode(`${canonicalize({ keyId, algorithm, publicKeyPem })}\n`),
    contentType: 'application/json',
    positions: [position],
    events: [],
  };
}

const jsonLines = (lines: readonly string[]) =>
  new TextEncoder().encode(lines.map((line) => `${line}\n`).join(''));

/**
 * gzip with fixed settings and a fixed header: no file name, mtime 0 (zlib's default) and OS byte 255
 * ("unknown", RFC 1952 §2.3.1) instead of the build platform's, so equal input gives equal bytes.
 */
export function gzipDeterministic(bytes: Uint8Array): Uint8Array {
  const gzipped = new Uint8Array(gzipSync(bytes, { level: 9, memLevel: 8, strategy: 0 }));
  gzipped[9] = 0xff;
  return gzipped;
}

/**
 * The bytes of a gzip object (RFC 1952), checked as gunzip checks them: CRC-32 and length of each member. One
 * plain member (what the archiver writes) is inflated the fast way (gzip-member.ts); anything else goes through
 * `gunzipSync`, whose errors then say what is wrong.
 */
export function gunzipBytes(body: Uint8Array): Buffer {
  const bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  return inflateSingleMember(bytes) ?? gunzipSync(bytes, { chunkSize: outputSizeHint(bytes) });
}

/** Reads an events object (gzip JSON lines) as `readEventLines` does; throws on any malformed line. */
export const readEventsObject = (body: Uint8Array): ArchivedLine[] => readEventLines(gunzipBytes(body));

/** Parses an events object with its records (for tests and tools; verification reads `readEventsObject`). */
export function parseEventsObject(body: Uint8Array): ArchivedEvent[] {
  // Fields one by one: a line read back is a view whose fields are getters, which a spread would not copy.
  return readEventsObject(body).map((line) => ({
    appendStart: line.appendStart,
    eventId: line.eventId,
    leafHash: line.leafHash,
    leafIndex: line.leafIndex,
    origin: line.origin,
    record: JSON.parse(recordTextOf(line)) as Record<string, unknown>,
  }));
}

/** Parses a checkpoints object (JSON lines of append records); throws on any malformed line. */
export function parseCheckpointsObject(body: Uint8Array): ArchivedAppend[] {
  return parseLines(new TextDecoder().decode(body)).map((line) => ArchivedAppend.parse(line));
}

/** Parses a keys/ object. */
export const parseKeyObject = (body: Uint8Array): PublicKeyInfo =>
  ArchivedKey.parse(JSON.parse(new TextDecoder().decode(body)));

function parseLines(text: string): unknown[] {
  return text
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line));
}
