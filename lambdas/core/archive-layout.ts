import { z } from 'zod';
import { canonicalize } from './canonical.ts';
import { SignedCheckpoint } from './checkpoint.ts';
import { utf8Text } from './merkle.ts';
import { AppendJson } from './wire.ts';

/**
 * The Object Lock archive's layout, defined once for the archiver, the archive verifier, the integrity
 * monitor, Glue/Athena (partition projection) and the local report engine.
 *
 * - `events/tenant=<tenant>/dt=<YYYY-MM-DD>/<log slug>-<first leaf>-<last leaf>.jsonl.gz`
 *   One gzip JSON-lines object per contiguous run of one log's leaves in a stream batch; `dt` is the UTC
 *   date of the first record's `receivedAt`. Each line is an `ArchivedEvent` in RFC 8785 canonical form (see
 *   "Events lines" below). Keys are derived from the content (log and leaf range), so a retried batch
 *   rewrites the same bytes (a new version of the same object under Object Lock, never a different record).
 *   Readers de-duplicate on (origin, leafIndex): a retry after a partial failure may store a leaf in two
 *   objects, always with identical content.
 * - `checkpoints/<log slug>/<first start>-<last size>.jsonl`: the run's append records (`AppendJson`), one
 *   per line: every signed checkpoint with the previous checkpoint and frontiers it extended.
 * - `keys/<key slug>.json`: `{keyId, algorithm, publicKeyPem}` of every key that ever signed.
 *
 * Events lines. A line is the RFC 8785 (JCS) text of `{appendStart, eventId, leafHash, leafIndex, origin,
 * record}`. JCS sorts keys, so `record` comes last, and JCS serializes a nested object exactly as it would on
 * its own, so the line is
 *
 *   {"appendStart":N,"eventId":"…","leafHash":"<64 hex>","leafIndex":N,"origin":"…","record":<leaf>}
 *
 * where `<leaf>` (everything between `"record":` and the final `}`) is byte for byte the Merkle leaf: the
 * record's canonical text as the ingest hashed and stored it (`StoredEvent.record`). The archiver writes
 * those stored bytes, never a re-serialization (`eventLine`), and a verifier hashes the same bytes back
 * without parsing the record (`readEventLines`): leaf hash = SHA-256(0x00 || leaf). The line stays ordinary
 * JSON for everything else that reads it (Athena's JSON SerDe, DuckDB's `read_json`, `jq`).
 * `eventId` repeats the record's `id` so a reader can index a line without parsing its record; it is not
 * trusted: `LogVerifier` checks it against the append's event ids and against the record's own `id`.
 * Lines written before `eventId` existed (archives are immutable) are read through the fallback path, which
 * takes the event id from the record.
 */
export const ARCHIVE_PREFIXES = { events: 'events/', checkpoints: 'checkpoints/', keys: 'keys/' } as const;

/** One line of an events object: the exact record that was hashed, and where it sits in which log. */
export const ArchivedEvent = z.strictObject({
  appendStart: z.number().int().nonnegative(),
  eventId: z.string(),
  leafHash: z.string().regex(/^[0-9a-f]{64}$/),
  leafIndex: z.number().int().nonnegative(),
  origin: z.string(),
  record: z.record(z.string(), z.unknown()),
});
export type ArchivedEvent = z.infer<typeof ArchivedEvent>;

/** A line as archives written before `eventId` was added hold it (read only). */
const LegacyArchivedEvent = ArchivedEvent.omit({ eventId: true });

/**
 * An events line as read back: the line's fields, and the record as its exact stored bytes (the leaf), not
 * parsed. Decode them (`recordTextOf`) only where the record's fields are needed (reports, exports, messages).
 */
export interface ArchivedLine {
  readonly appendStart: number;
  readonly eventId: string;
  readonly leafHash: string;
  readonly leafIndex: number;
  readonly origin: string;
  /** The record's canonical JSON, UTF-8, as stored: the Merkle leaf. A view into the object's bytes. */
  readonly recordBytes: Uint8Array;
}

/** The fields of an events line besides its record. */
export type EventLineFields = Omit<ArchivedLine, 'recordBytes'>;

/** The record of a line as text. */
export const recordTextOf = (line: Pick<ArchivedLine, 'recordBytes'>): string => utf8Text(line.recordBytes);

/**
 * The events line for a record whose canonical text is `recordText` (RFC 8785 form of the `ArchivedEvent`
 * when `recordText` is canonical, which is the archiver's to ensure). Strings go through `canonicalize`, so a
 * lone surrogate throws instead of producing a line that is not JCS.
 */
export function eventLine(fields: EventLineFields, recordText: string): string {
  const { appendStart, eventId, leafHash, leafIndex, origin } = fields;
  return `{"appendStart":${canonicalize(appendStart)},"eventId":${canonicalize(eventId)},"leafHash":${canonicalize(leafHash)},"leafIndex":${canonicalize(leafIndex)},"origin":${canonicalize(origin)},"record":${recordText}}`;
}

/** A line of an events object that cannot be read; `line` is its 1-based line number in the object. */
export class EventLineError extends Error {
  override readonly name = 'EventLineError';
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(message);
  }
}

const NEWLINE = 0x0a;
const CLOSE_BRACE = 0x7d;

// A JSON string of printable ASCII without escapes: what origins and event ids are in practice. Anything else
// (escapes, UTF-8) is read by the full parse, so a match never needs decoding.
const PLAIN_STRING = String.raw`"([\x20\x21\x23-\x5b\x5d-\x7e]*)"`;
const JCS_INDEX = '(0|[1-9][0-9]{0,15})';
/** Everything of a canonical line before its record, matched on the line's first bytes read as latin1. */
const LINE_HEADER = new RegExp(
  `^\\{"appendStart":${JCS_INDEX},"eventId":${PLAIN_STRING},"leafHash":"([0-9a-f]{64})","leafIndex":${JCS_INDEX},"origin":${PLAIN_STRING},"record":(?=\\{)`,
);
/** Bytes of a line read for its header: enough for origins of a few hundred characters. */
const HEADER_WINDOW = 512;

/**
 * Reads the lines of an events object (its bytes, gunzipped). A canonical line is read by `LINE_HEADER`,
 * matched on the line's first bytes as latin1 (one char per byte, so match lengths are byte offsets), and a
 * view: the record is the bytes between the header and the line's final `}`, never decoded, parsed or
 * copied, so the leaf is exactly the stored bytes (a line that only looks canonical but is not, e.g. with
 * something after the record, yields record bytes that do not hash to the leaf, which the verifier reports).
 * Any other line is parsed and checked with `ArchivedEvent` (or the pre-`eventId` form), its record
 * canonicalized; what is wrong with it is thrown as an `EventLineError`. Blank lines are skipped.
 */
export function readEventLines(bytes: Uint8Array): ArchivedLine[] {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lines: ArchivedLine[] = [];
  let lineNumber = 0;
  let origin = '';
  for (let start = 0; start < buffer.length; ) {
    lineNumber += 1;
    let end = buffer.indexOf(NEWLINE, start);
    if (end < 0) end = buffer.length;
    const line = readCanonicalLine(buffer, start, end, origin);
    if (line) {
      lines.push(line);
      origin = line.origin;
    } else {
      const text = buffer.toString('utf8', start, end);
      if (text.trim() !== '') lines.push(parseEventLine(text, lineNumber));
    }
    start = end + 1;
  }
  return lines;
}

/**
 * A canonical line as a view, or undefined. `previousOrigin` is the origin of the line before: lines of an
 * object name the same log, and reusing that string keeps a line from holding on to the header text.
 */
function readCanonicalLine(
  buffer: Buffer,
  start: number,
  end: number,
  previousOrigin: string,
): ArchivedLine | undefined {
  if (end - start < 2 || buffer[end - 1] !== CLOSE_BRACE) return undefined;
  const match = LINE_HEADER.exec(buffer.toString('latin1', start, Math.min(end, start + HEADER_WINDOW)));
  if (match === null) return undefined;
  const [header, appendStartDigits, eventId, , leafIndexDigits] = match as unknown as string[];
  const recordStart = start + header!.length;
  const appendStart = Number(appendStartDigits);
  const leafIndex = Number(leafIndexDigits);
  if (recordStart >= end - 1 || !Number.isSafeInteger(appendStart) || !Number.isSafeInteger(leafIndex))
    return undefined;
  // Offsets follow from the lengths matched: `{"appendStart":` N `,"eventId":"` id `","leafHash":"` hex …
  const eventIdStart = start + 15 + appendStartDigits!.length + 12;
  const eventIdEnd = eventIdStart + eventId!.length;
  const origin = match[5] === previousOrigin ? previousOrigin : match[5]!;
  return new EventLineView(
    buffer,
    appendStart,
    leafIndex,
    origin,
    eventIdStart,
    eventIdEnd,
    recordStart,
    end - 1,
  );
}

/**
 * A canonical line as a view into its object's bytes: the numbers and the origin are read, the event id,
 * leaf hash and record stay bytes until asked for (each getter returns a new string or view). Verifying an
 * archive keeps every line in memory, so a line holds no string or buffer of its own: a few numbers and two
 * shared references.
 */
class EventLineView implements ArchivedLine {
  // Private fields (#) stay out of spreads and JSON: a line shows only its fields.
  readonly #bytes: Buffer;
  readonly #eventIdStart: number;
  readonly #eventIdEnd: number;
  readonly #recordStart: number;
  readonly #recordEnd: number;

  constructor(
    bytes: Buffer,
    readonly appendStart: number,
    readonly leafIndex: number,
    readonly origin: string,
    eventIdStart: number,
    eventIdEnd: number,
    recordStart: number,
    recordEnd: number,
  ) {
    this.#bytes = bytes;
    this.#eventIdStart = eventIdStart;
    this.#eventIdEnd = eventIdEnd;
    this.#recordStart = recordStart;
    this.#recordEnd = recordEnd;
  }

  /** Plain ASCII without escapes (what `LINE_HEADER` matched), so latin1 is its exact text. */
  get eventId(): string {
    return this.#bytes.toString('latin1', this.#eventIdStart, this.#eventIdEnd);
  }

  get leafHash(): string {
    const start = this.#eventIdEnd + LEAF_HASH_OFFSET;
    return this.#bytes.toString('latin1', start, start + 64);
  }

  get recordBytes(): Uint8Array {
    return this.#bytes.subarray(this.#recordStart, this.#recordEnd);
  }

  /** The fields as a plain object (what `JSON.stringify` writes). */
  toJSON(): EventLineFields & { recordBytes: Uint8Array } {
    const { appendStart, eventId, leafHash, leafIndex, origin, recordBytes } = this;
    return { appendStart, eventId, leafHash, leafIndex, origin, recordBytes };
  }
}

/** From the end of the event id to the first hex digit of the leaf hash: `","leafHash":"`. */
const LEAF_HASH_OFFSET = 14;

/** The fallback for a line not in the canonical form: full parse and schema check, precise errors. */
function parseEventLine(line: string, lineNumber: number): ArchivedLine {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch (error) {
    throw new EventLineError(lineNumber, `is not JSON (${(error as Error).message})`);
  }
  const current = ArchivedEvent.safeParse(json);
  const legacy = current.success ? undefined : LegacyArchivedEvent.safeParse(json);
  let event: ArchivedEvent;
  if (current.success) event = current.data;
  else if (legacy?.success && typeof legacy.data.record.id === 'string')
    event = { ...legacy.data, eventId: legacy.data.record.id };
  else {
    const issue = current.error.issues[0];
    const at = issue?.path.length ? issue.path.join('.') : 'the line';
    throw new EventLineError(lineNumber, `is not an archived event (${at}: ${issue?.message ?? 'invalid'})`);
  }
  let recordBytes: Uint8Array;
  try {
    recordBytes = Buffer.from(canonicalize(event.record), 'utf8');
  } catch (error) {
    throw new EventLineError(
      lineNumber,
      `holds a record with no canonical form (${(error as Error).message})`,
    );
  }
  const { appendStart, eventId, leafHash, leafIndex, origin } = event;
  return { appendStart, eventId, leafHash, leafIndex, origin, recordBytes };
}

export const ArchivedAppend = AppendJson;
export type ArchivedAppend = AppendJson;

export const ArchivedKey = z.strictObject({
  keyId: z.string(),
  algorithm: SignedCheckpoint.shape.algorithm,
  publicKeyPem: z.string(),
});

/** Origins contain `/` and other characters unsafe in one key segment; slugs are reversible. */
export const logSlug = (origin: string) => encodeURIComponent(origin);
export const originFromSlug = (slug: string) => decodeURIComponent(slug);

const pad = (n: number) => String(n).padStart(16, '0');

export const eventsObjectKey = (
  tenant: string,
  receivedAt: string,
  origin: string,
  firstLeaf: number,
  lastLeaf: number,
) =>
  `${ARCHIVE_PREFIXES.events}tenant=${tenant}/dt=${receivedAt.slice(0, 10)}/${logSlug(origin)}-${pad(firstLeaf)}-${pad(lastLeaf)}.jsonl.gz`;

export const checkpointsObjectKey = (origin: string, firstStart: number, lastSize: number) =>
  `${ARCHIVE_PREFIXES.checkpoints}${logSlug(origin)}/${pad(firstStart)}-${pad(lastSize)}.jsonl`;

export const keyObjectKey = (keyId: string) => `${ARCHIVE_PREFIXES.keys}${encodeURIComponent(keyId)}.json`;
