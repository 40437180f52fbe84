import { z } from 'zod';
import { canonicalize } from './canonical.ts';
import { SignedCheckpoint } from './checkpoint.ts';
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
 * An events line as read back: the line's fields, and the record as its exact stored text (the leaf), not
 * parsed. Parse `recordText` only where the record's fields are needed (reports, exports, messages).
 */
export interface ArchivedLine {
  readonly appendStart: number;
  readonly eventId: string;
  readonly leafHash: string;
  readonly leafIndex: number;
  readonly origin: string;
  /** The record's canonical JSON text: the Merkle leaf, as stored. */
  readonly recordText: string;
}

/**
 * The events line for a record whose canonical text is `recordText` (RFC 8785 form of the `ArchivedEvent`
 * when `recordText` is canonical, which is the archiver's to ensure). Strings go through `canonicalize`, so a
 * lone surrogate throws instead of producing a line that is not JCS.
 */
export function eventLine(fields: Omit<ArchivedLine, 'recordText'>, recordText: string): string {
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

// A JCS string: any character but `"`, `\` and controls, or one of the escapes JCS writes.
const JCS_STRING = String.raw`"(?:[^"\\\u0000-\u001f]|\\["\\bfnrt]|\\u00[01][0-9a-f])*"`;
const JCS_INDEX = '(0|[1-9][0-9]{0,15})';
/** Everything of a canonical line before its record, anchored where the line starts (sticky). */
const LINE_HEADER = new RegExp(
  `\\{"appendStart":${JCS_INDEX},"eventId":(${JCS_STRING}),"leafHash":"([0-9a-f]{64})","leafIndex":${JCS_INDEX},"origin":(${JCS_STRING}),"record":(?=\\{)`,
  'y',
);
const CLOSE_BRACE = 125;

/**
 * Reads the lines of an events object (its text, gunzipped). A canonical line is read by `LINE_HEADER` and a
 * slice: the record's text is `line.slice(header length, -1)`, never parsed, so the leaf is exactly the stored
 * bytes (a line that only looks canonical but is not, e.g. with something after the record, yields a record
 * text that does not hash to the leaf, which the verifier reports). Any other line is parsed and checked
 * with `ArchivedEvent` (or the pre-`eventId` form), its record canonicalized; what is wrong with it is thrown
 * as an `EventLineError`. Blank lines are skipped.
 */
export function readEventLines(text: string): ArchivedLine[] {
  const lines: ArchivedLine[] = [];
  const header = LINE_HEADER;
  // Consecutive lines of an object name the same log: its origin is decoded once.
  let originLiteral = '';
  let origin = '';
  let lineNumber = 0;
  for (let start = 0; start < text.length; ) {
    lineNumber += 1;
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    header.lastIndex = start;
    const match = header.exec(text);
    const index = match && Number(match[1]);
    const leafIndex = match && Number(match[4]);
    if (
      match !== null &&
      header.lastIndex < end &&
      text.charCodeAt(end - 1) === CLOSE_BRACE &&
      Number.isSafeInteger(index) &&
      Number.isSafeInteger(leafIndex)
    ) {
      if (match[5] !== originLiteral) {
        originLiteral = match[5]!;
        origin = jcsString(originLiteral);
      }
      lines.push({
        appendStart: index!,
        eventId: jcsString(match[2]!),
        leafHash: match[3]!,
        leafIndex: leafIndex!,
        origin,
        recordText: text.slice(header.lastIndex, end - 1),
      });
    } else {
      const line = text.slice(start, end);
      if (line.trim() !== '') lines.push(parseEventLine(line, lineNumber));
    }
    start = end + 1;
  }
  return lines;
}

/** A JCS string literal matched by `JCS_STRING`: JSON.parse only if it has an escape. */
const jcsString = (literal: string): string =>
  literal.includes('\\') ? (JSON.parse(literal) as string) : literal.slice(1, -1);

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
  let recordText: string;
  try {
    recordText = canonicalize(event.record);
  } catch (error) {
    throw new EventLineError(
      lineNumber,
      `holds a record with no canonical form (${(error as Error).message})`,
    );
  }
  const { appendStart, eventId, leafHash, leafIndex, origin } = event;
  return { appendStart, eventId, leafHash, leafIndex, origin, recordText };
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
