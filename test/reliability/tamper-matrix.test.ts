import { gunzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { appendFromItem, eventFromItem } from '#adapters/dynamo-ledger-store.ts';
import {
  ARCHIVE_PREFIXES,
  type ArchivedEvent,
  type ArchivedLine,
  eventLine,
  recordTextOf,
} from '#core/archive-layout.ts';
import { gzipDeterministic } from '#core/archiving.ts';
import { canonicalBytes, canonicalize } from '#core/canonical.ts';
import type { SignedCheckpoint } from '#core/checkpoint.ts';
import { fromHex, leafHash, toHex } from '#core/merkle.ts';
import type { AppendRecord, EventPage, EventQuery, LedgerStore, LogHead, StoredEvent } from '#core/ports.ts';
import type { Receipt } from '#core/receipt.ts';
import { keyMap, type PublicKeyInfo } from '#core/signer.ts';
import { LogVerifier, type VerifyCheck, type VerifyFailure } from '#core/verify-log.ts';
import type { AppendJson, AppendWithLeavesJson, LeafJson } from '#core/wire.ts';
import { archiveTrailSource, logHeads } from '../../cli/archive/archive-source.ts';
import { type ArchiveContents, ArchiveReadError, readArchive } from '../../cli/archive/read-archive.ts';
import { verifyArchive } from '../../cli/archive/verify-archive.ts';
import { createArchiver } from '../../lambdas/streams/archiver.ts';
import {
  auditorApi,
  type BuiltLog,
  buildLog,
  MemoryArchive,
  type Prng,
  printCounts,
  prng,
  streamOf,
} from '../support/reliability-kit.ts';

/**
 * The tamper matrix: a 10,000-event log (two shards, appends of 1 to 98 events) built once with the real
 * ingest use case, archived once with the real archiver; then, per kind of tampering and per side (the
 * table as the read API serves it, the Object Lock archive as `verify --archive` reads it), at least 1,000
 * seeded cases on cheap copies. Every case must be detected with the first bad position named: the leaf
 * (index and event id) for record changes, deletions and swaps; the append for signature and frontier
 * changes (no leaf is at fault there); truncation and the sizes for a dropped tail.
 *
 * Incremental verification (documented shortcut): a full replay of 10,000 leaves per case would take
 * minutes, so each case starts a LogVerifier at the append before the tampered one with `trustedStart`
 * (that append's signed checkpoint and frontier, from the pristine log that the first test verifies in
 * full) and pushes appends from there on. Nothing before the tampered append changed, so the verifier
 * sees exactly what a full replay would see from that point, and it stops at the first failure. The cheap
 * copies model what the read API would serve for the tampered items and what the archive reader would
 * read from the tampered objects; a sample per kind and side checks that model against the real paths
 * (the read handler over a store holding the tampered items; the tampered gzip/JSONL objects read back by
 * the archive reader), and one case per kind replays the whole log from the empty tree (the read handler
 * paged from leaf 0, or `verifyArchive` itself): every real path must report the same failure.
 */

const SEED = 61_962;
const EVENTS = 10_000;
const SHARDS = 2;
const CASES = 1_000;

type Side = 'table' | 'archive';
type Kind = 'byte' | 'delete' | 'swap' | 'truncate' | 'signature' | 'frontier';

interface Expected {
  readonly checks: readonly VerifyCheck[];
  readonly leafIndex?: number;
  readonly eventId?: string;
  readonly appendStart?: number;
  /** The failure names no leaf (signature, frontier, root: the append is at fault). */
  readonly noLeaf?: boolean;
  readonly messageIncludes?: readonly string[];
}

/** A stored event as a table tamper leaves it (the key's event id never changes). */
interface EventEdit {
  readonly record: string;
  readonly leafHash: Uint8Array;
  readonly leafIndex: number;
  readonly appendStart: number;
}

interface TamperCase {
  readonly side: Side;
  readonly kind: Kind;
  readonly variant: string;
  readonly origin: string;
  /** Index (in the origin's appends) of the first append the verifier must check. */
  readonly from: number;
  readonly expected: Expected;
  /** Table: events by id (null: deleted) and appends by start (null: deleted). */
  readonly events?: Map<string, EventEdit | null>;
  readonly tableAppends?: Map<number, AppendRecord | null>;
  /** Archive: event lines by leaf index (a string: record bytes that no longer parse) and appends by start. */
  readonly lines?: Map<number, ArchivedLine | string | null>;
  readonly archiveAppends?: Map<number, AppendJson | null>;
  /** Checkpoints known from outside (a witness / the table head) besides the archive's own head. */
  readonly witness?: SignedCheckpoint;
  /** Verify with the receipts the clients hold. */
  readonly withReceipts?: boolean;
}

let log: BuiltLog;
let keys: ReadonlyMap<string, PublicKeyInfo>;
const served = new Map<string, AppendWithLeavesJson[]>();
const appendIndexOfLeaf = new Map<string, number[]>();
let archive: MemoryArchive;
let contents: ArchiveContents;
const archivedAppends = new Map<string, AppendJson[]>();
const archiveHead = new Map<string, SignedCheckpoint>();
const receipts = new Map<string, Receipt>();
/** Where each archived line and append lives: `origin\nleafIndex` / `origin\nstart` -> object key and line. */
const lineAt = new Map<string, { key: string; line: number }>();
const appendLineAt = new Map<string, { key: string; line: number }>();

const sizeOf = (origin: string) => served.get(origin)!.at(-1)!.size;
const appendOf = (origin: string, leafIndex: number) => appendIndexOfLeaf.get(origin)![leafIndex]!;
const eventIdAt = (origin: string, leafIndex: number) => {
  const append = served.get(origin)![appendOf(origin, leafIndex)]!;
  return append.eventIds[leafIndex - append.start]!;
};
const storedEvent = (origin: string, leafIndex: number) => log.leaves.get(origin)![leafIndex]!;

beforeAll(async () => {
  // Mostly small appends, some large ones up to the 98-event maximum: ~700 appends in all.
  log = await buildLog({
    events: EVENTS,
    seed: SEED,
    shards: SHARDS,
    batchSize: (random) => (random.chance(0.1) ? random.between(40, 98) : random.between(1, 12)),
  });
  keys = keyMap(log.keys);
  for (const result of log.results)
    for (const receipt of result.receipts) receipts.set(receipt.eventId, receipt);
  const api = auditorApi(log.memory, SHARDS);
  for (const origin of log.origins) {
    const appends: AppendWithLeavesJson[] = [];
    for await (const append of api.appends(origin, 0, 100)) appends.push(append);
    served.set(origin, appends);
    const index: number[] = [];
    appends.forEach((append, i) => {
      for (let leaf = append.start; leaf < append.size; leaf++) index[leaf] = i;
    });
    appendIndexOfLeaf.set(origin, index);
  }
  archive = new MemoryArchive();
  const archiver = createArchiver({ archive, codec: { eventFromItem, appendFromItem } });
  const records = streamOf(log.store);
  for (let i = 0; i < records.length; i += 100) {
    const response = await archiver({ Records: records.slice(i, i + 100) });
    if (response.batchItemFailures.length > 0) throw new Error('the archiver failed on the pristine log');
  }
  contents = await readArchive(archive);
  for (const [origin, appends] of contents.appends)
    archivedAppends.set(
      origin,
      [...appends.values()].sort((a, b) => a.start - b.start),
    );
  for (const head of logHeads(contents)) if (head.checkpoint) archiveHead.set(head.origin, head.checkpoint);
  for (const [key, body] of archive.objects) {
    if (key.startsWith(ARCHIVE_PREFIXES.events)) {
      textLines(gunzipSync(body)).forEach((line, i) => {
        const parsed = JSON.parse(line) as ArchivedEvent;
        lineAt.set(`${parsed.origin}\n${parsed.leafIndex}`, { key, line: i });
      });
    } else if (key.startsWith(ARCHIVE_PREFIXES.checkpoints)) {
      textLines(body).forEach((line, i) => {
        const parsed = JSON.parse(line) as AppendJson;
        appendLineAt.set(`${parsed.origin}\n${parsed.start}`, { key, line: i });
      });
    }
  }
});

const textLines = (bytes: Uint8Array) =>
  Buffer.from(bytes)
    .toString('utf8')
    .split('\n')
    .filter((line) => line !== '');

// ---------------------------------------------------------------------------------------------------------
// Mutations

/** One byte of the record's UTF-8 changed; the text as a store would hold it (invalid UTF-8 decoded as U+FFFD). */
function mutateRecordByte(
  text: string,
  random: Prng,
): { text: string; record?: Record<string, unknown>; sameValue: boolean } {
  const bytes = Buffer.from(text, 'utf8');
  const at = random.int(bytes.length);
  let value = random.int(256);
  while (value === bytes[at]) value = random.int(256);
  bytes[at] = value;
  const mutated = new TextDecoder().decode(bytes);
  let record: unknown;
  try {
    record = JSON.parse(mutated);
  } catch {
    return { text: mutated, sameValue: false };
  }
  if (typeof record !== 'object' || record === null || Array.isArray(record))
    return { text: mutated, sameValue: false };
  let same = false;
  try {
    same = canonicalize(record) === text;
  } catch {
    // A lone surrogate made by the byte change: no canonical form, which is a change too.
  }
  return { text: mutated, record: record as Record<string, unknown>, sameValue: same };
}

function flipBase64Byte(base64: string, random: Prng): string {
  const bytes = Buffer.from(base64, 'base64');
  bytes[random.int(bytes.length)]! ^= random.between(1, 255);
  return bytes.toString('base64');
}

function flipHexByte(hex: string, random: Prng): string {
  const bytes = Buffer.from(hex, 'hex');
  bytes[random.int(bytes.length)]! ^= random.between(1, 255);
  return bytes.toString('hex');
}

const pickLeaf = (random: Prng): { origin: string; leafIndex: number } => {
  let global = random.int(EVENTS);
  for (const origin of log.origins) {
    if (global < sizeOf(origin)) return { origin, leafIndex: global };
    global -= sizeOf(origin);
  }
  throw new Error('leaf out of range');
};
const pickOrigin = (random: Prng) => random.pick(log.origins);

const editOf = (event: StoredEvent, record = event.record, hash = event.leafHash): EventEdit => ({
  record,
  leafHash: hash,
  leafIndex: event.leafIndex,
  appendStart: event.appendStart,
});
/** An archived line as a plain object (a line read back is a view with getters, which a spread would drop). */
function archivedLine(origin: string, leafIndex: number): ArchivedLine {
  const { appendStart, eventId, leafHash, recordBytes } = contents.events.get(origin)!.get(leafIndex)!;
  return { appendStart, eventId, leafHash, leafIndex, origin, recordBytes };
}
const bytesOf = (text: string) => Buffer.from(text, 'utf8');
const storedAppend = (origin: string, index: number) => log.appends.get(origin)![index]!;

/** Builds one seeded case of a kind on a side. */
function makeCase(side: Side, kind: Kind, random: Prng): TamperCase | { skipped: 'same-value' } {
  if (kind === 'byte') {
    const { origin, leafIndex } = pickLeaf(random);
    const event = storedEvent(origin, leafIndex);
    const eventId = event.eventId;
    const m = appendOf(origin, leafIndex);
    const mutation = mutateRecordByte(event.record, random);
    if (mutation.sameValue) return { skipped: 'same-value' };
    const rehash = mutation.record !== undefined && random.chance(0.1);
    const newHash = rehash ? leafHash(canonicalBytes(mutation.record)) : event.leafHash;
    const withReceipts = rehash && random.chance(0.5);
    // Record bytes that no longer parse: the API cannot serve the leaf; the archive reader keeps the bytes
    // (it never parses records), so the verifier finds they are not the leaf, unless the changed byte is a
    // line break, which splits the line and leaves the object unreadable.
    const expected: Expected =
      mutation.record === undefined
        ? side === 'table'
          ? { checks: ['missing-leaf'], leafIndex, eventId }
          : mutation.text.includes('\n')
            ? {
                checks: ['format'],
                messageIncludes: [
                  lineAt.get(`${origin}\n${leafIndex}`)!.key,
                  `line ${lineAt.get(`${origin}\n${leafIndex}`)!.line + 1} `,
                ],
              }
            : { checks: ['leaf-hash', 'record'], leafIndex, eventId }
        : rehash && !withReceipts
          ? { checks: ['root', 'event-id'], appendStart: storedAppend(origin, m).start }
          : { checks: ['leaf-hash', 'event-id', 'receipt'], leafIndex, eventId };
    const variant =
      mutation.record === undefined
        ? 'breaks-json'
        : rehash
          ? withReceipts
            ? 'record+hash, receipts held'
            : 'record+hash'
          : 'record';
    const base = { side, kind, variant, origin, from: m, expected, withReceipts };
    if (side === 'table')
      return { ...base, events: new Map([[eventId, editOf(event, mutation.text, newHash)]]) };
    const line = archivedLine(origin, leafIndex);
    return {
      ...base,
      lines: new Map([
        [
          leafIndex,
          mutation.record === undefined
            ? mutation.text
            : { ...line, recordBytes: bytesOf(canonicalize(mutation.record)), leafHash: toHex(newHash) },
        ],
      ]),
    };
  }
  if (kind === 'delete') {
    const { origin, leafIndex } = pickLeaf(random);
    const eventId = eventIdAt(origin, leafIndex);
    const m = appendOf(origin, leafIndex);
    const append = storedAppend(origin, m);
    const emptiesTail =
      side === 'archive' && m === log.appends.get(origin)!.length - 1 && append.size - append.start === 1;
    const expected: Expected = emptiesTail
      ? {
          checks: ['truncated'],
          leafIndex,
          messageIncludes: [`size ${leafIndex} `, `size ${sizeOf(origin)} `],
        }
      : { checks: ['missing-leaf'], leafIndex, eventId };
    const base = { side, kind, variant: 'one leaf', origin, from: m, expected };
    return side === 'table'
      ? { ...base, events: new Map([[eventId, null]]) }
      : { ...base, lines: new Map([[leafIndex, null]]) };
  }
  if (kind === 'swap') {
    const origin = pickOrigin(random);
    const size = sizeOf(origin);
    const a = random.int(size);
    let b = random.chance(0.3) ? Math.min(size - 1, a + random.between(1, 5)) : random.int(size);
    if (b === a) b = a === 0 ? 1 : a - 1;
    const [first, second] = a < b ? [a, b] : [b, a];
    const expected: Expected = {
      checks: ['missing-leaf', 'leaf-order', 'event-id'],
      leafIndex: first,
      eventId: eventIdAt(origin, first),
    };
    const base = { side, kind, origin, from: appendOf(origin, first), expected };
    const one = storedEvent(origin, first);
    const two = storedEvent(origin, second);
    if (side === 'table') {
      // Whole items swapped (positions move with them) or only the records and their hashes.
      const whole = random.chance(0.5);
      const edits = whole
        ? ([
            [one.eventId, editOf(two)],
            [two.eventId, editOf(one)],
          ] as const)
        : ([
            [one.eventId, editOf(one, two.record, two.leafHash)],
            [two.eventId, editOf(two, one.record, one.leafHash)],
          ] as const);
      return {
        ...base,
        variant: whole ? 'items' : 'records',
        events: new Map<string, EventEdit | null>(edits),
      };
    }
    const lineOne = archivedLine(origin, first);
    const lineTwo = archivedLine(origin, second);
    return {
      ...base,
      variant: 'records',
      lines: new Map([
        [first, { ...lineOne, recordBytes: lineTwo.recordBytes, leafHash: lineTwo.leafHash }],
        [second, { ...lineTwo, recordBytes: lineOne.recordBytes, leafHash: lineOne.leafHash }],
      ]),
    };
  }
  if (kind === 'truncate') {
    const origin = pickOrigin(random);
    const appends = log.appends.get(origin)!;
    const n = appends.length;
    const k = random.chance(0.5) ? random.between(1, 3) : random.between(1, n - 1);
    const cut = appends[n - k]!.start;
    const from = n - k - 1;
    const expected: Expected = {
      checks: ['truncated'],
      leafIndex: cut,
      messageIncludes: [`size ${cut} `, `size ${sizeOf(origin)} `],
    };
    const dropped = appends.slice(n - k);
    if (side === 'table') {
      return {
        side,
        kind,
        variant: 'last k appends',
        origin,
        from,
        expected,
        tableAppends: new Map(dropped.map((append) => [append.start, null])),
        events: new Map(dropped.flatMap((append) => append.eventIds.map((id) => [id, null] as const))),
      };
    }
    const lines = new Map<number, null>();
    for (let leaf = cut; leaf < sizeOf(origin); leaf++) lines.set(leaf, null);
    // The archive is the high-water mark: with its checkpoints gone too, only an outside witness shows the loss.
    const withCheckpoints = random.chance(0.3);
    return {
      side,
      kind,
      origin,
      from,
      expected,
      lines,
      variant: withCheckpoints
        ? 'last k appends and their checkpoints (witness)'
        : 'events of the last k appends',
      ...(withCheckpoints
        ? {
            archiveAppends: new Map(dropped.map((append) => [append.start, null])),
            witness: archiveHead.get(origin)!,
          }
        : {}),
    };
  }
  const origin = pickOrigin(random);
  const appends = log.appends.get(origin)!;
  const m = random.int(appends.length);
  const append = appends[m]!;
  const next = appends[m + 1];
  if (kind === 'signature') {
    const signature = flipBase64Byte(append.checkpoint.signature, random);
    const checkpoint = { ...append.checkpoint, signature };
    const alsoNext = next !== undefined && random.chance(0.5);
    const isHead = next === undefined;
    const expected: Expected =
      side === 'archive' && isHead
        ? {
            checks: ['signature'],
            noLeaf: true,
            messageIncludes: [`known checkpoint of size ${append.size}`],
          }
        : { checks: ['signature'], appendStart: append.start, noLeaf: true };
    const variant = alsoNext ? 'checkpoint and the next append\u2019s previous' : 'checkpoint';
    if (side === 'table') {
      const edits = new Map<number, AppendRecord | null>([[append.start, { ...append, checkpoint }]]);
      if (alsoNext) edits.set(next.start, { ...next, previous: checkpoint });
      return { side, kind, variant, origin, from: m, expected, tableAppends: edits };
    }
    const json = archivedAppends.get(origin)!;
    const edits = new Map<number, AppendJson | null>([[append.start, { ...json[m]!, checkpoint }]]);
    if (alsoNext) edits.set(next.start, { ...json[m + 1]!, previous: checkpoint });
    return { side, kind, variant, origin, from: m, expected, archiveAppends: edits };
  }
  // frontier: the new frontier of append m, the previous frontier of m + 1, or both (consistently).
  const where =
    next === undefined ? 'frontier' : random.pick(['frontier', 'next previousFrontier', 'both'] as const);
  const slot = random.int(append.frontier.length);
  const hex = flipHexByte(toHex(append.frontier[slot]!), random);
  const replaced = (frontier: readonly Uint8Array[]) =>
    frontier.map((hash, i) => (i === slot ? fromHex(hex) : hash));
  const replacedHex = (frontier: readonly string[]) => frontier.map((hash, i) => (i === slot ? hex : hash));
  const failsAt = where === 'next previousFrontier' ? next!.start : append.start;
  const expected: Expected = { checks: ['frontier'], appendStart: failsAt, noLeaf: true };
  if (side === 'table') {
    const edits = new Map<number, AppendRecord | null>();
    if (where !== 'next previousFrontier')
      edits.set(append.start, { ...append, frontier: replaced(append.frontier) });
    if (where !== 'frontier')
      edits.set(next!.start, { ...next!, previousFrontier: replaced(next!.previousFrontier) });
    return { side, kind, variant: where, origin, from: m, expected, tableAppends: edits };
  }
  const json = archivedAppends.get(origin)!;
  const edits = new Map<number, AppendJson | null>();
  if (where !== 'next previousFrontier')
    edits.set(append.start, { ...json[m]!, frontier: replacedHex(json[m]!.frontier) });
  if (where !== 'frontier')
    edits.set(next!.start, { ...json[m + 1]!, previousFrontier: replacedHex(json[m + 1]!.previousFrontier) });
  return { side, kind, variant: where, origin, from: m, expected, archiveAppends: edits };
}

// ---------------------------------------------------------------------------------------------------------
// The shortcut: cheap copies, verifier seeded at the append before the tampered one

const leafJsonOf = (eventId: string, edit: EventEdit): LeafJson | undefined => {
  let record: unknown;
  try {
    record = JSON.parse(edit.record);
  } catch {
    return undefined;
  }
  if (typeof record !== 'object' || record === null || Array.isArray(record)) return undefined;
  return {
    leafIndex: edit.leafIndex,
    eventId,
    leafHash: toHex(edit.leafHash),
    record: record as Record<string, unknown>,
  };
};

/** What the read API serves for a table holding the case's items (the real handler is checked against this). */
function* tableModel(tamper: TamperCase): Iterable<AppendWithLeavesJson> {
  const pristine = served.get(tamper.origin)!;
  for (let i = tamper.from; i < pristine.length; i++) {
    const original = pristine[i]!;
    const edited = tamper.tableAppends?.get(original.start);
    if (edited === null) continue;
    const touched = original.eventIds.some((id) => tamper.events?.has(id));
    if (edited === undefined && !touched) {
      yield original;
      continue;
    }
    const fields = edited
      ? {
          ...original,
          previous: edited.previous,
          checkpoint: edited.checkpoint,
          previousFrontier: edited.previousFrontier.map(toHex),
          frontier: edited.frontier.map(toHex),
        }
      : original;
    yield {
      ...fields,
      leaves: original.eventIds.flatMap((id, offset) => {
        const edit = tamper.events?.get(id);
        if (edit === null) return [];
        if (edit === undefined) return [original.leaves[offset]!];
        const leaf = leafJsonOf(id, edit);
        return leaf ? [leaf] : [];
      }),
    };
  }
}

/** The archive's contents with the case's edits (only the touched origin's maps are copied). */
function archiveModel(tamper: TamperCase): ArchiveContents {
  const events = new Map(contents.events);
  const appends = new Map(contents.appends);
  if (tamper.lines) {
    const lines = contents.events.get(tamper.origin)!.clone();
    for (const [leafIndex, line] of tamper.lines) {
      if (line === null) lines.delete(leafIndex);
      else if (typeof line !== 'string') lines.set(leafIndex, line);
      else lines.set(leafIndex, { ...archivedLine(tamper.origin, leafIndex), recordBytes: bytesOf(line) });
    }
    events.set(tamper.origin, lines);
  }
  if (tamper.archiveAppends) {
    const log = new Map(contents.appends.get(tamper.origin));
    for (const [start, append] of tamper.archiveAppends) {
      if (append === null) log.delete(start);
      else log.set(start, append);
    }
    appends.set(tamper.origin, log);
  }
  return { ...contents, events, appends };
}

function seededVerifier(
  tamper: TamperCase,
  trusted: { checkpoint: SignedCheckpoint; frontier: readonly string[] } | undefined,
  known: SignedCheckpoint[],
) {
  return new LogVerifier({
    origin: tamper.origin,
    keys,
    knownCheckpoints: known,
    ...(trusted ? { trustedStart: trusted } : {}),
    ...(tamper.withReceipts ? { receiptFor: (id: string) => receipts.get(id) } : {}),
  });
}

/**
 * A line split by a changed byte is refused by the archive reader before any proof is checked, so the reader
 * runs over the damaged object alone (the real path below reads the whole archive and must agree).
 */
async function readDamagedObject(tamper: TamperCase): Promise<VerifyFailure | undefined> {
  const subset = new MemoryArchive();
  await rewriteEventObjects(subset, tamper);
  try {
    await readArchive(subset);
    return undefined;
  } catch (error) {
    if (error instanceof ArchiveReadError) return error.failure;
    throw error;
  }
}

async function shortcut(tamper: TamperCase): Promise<VerifyFailure | undefined> {
  if (tamper.side === 'table') {
    const previous = tamper.from > 0 ? served.get(tamper.origin)![tamper.from - 1]! : undefined;
    const verifier = seededVerifier(
      tamper,
      previous && { checkpoint: previous.checkpoint, frontier: previous.frontier },
      [archiveHead.get(tamper.origin)!],
    );
    for (const append of tableModel(tamper)) {
      const failure = verifier.push(append);
      if (failure) return failure;
    }
    return verifier.finish().failure;
  }
  if ([...(tamper.lines?.values() ?? [])].some((line) => typeof line === 'string' && line.includes('\n')))
    return readDamagedObject(tamper);
  return archiveShortcut(tamper, archiveModel(tamper));
}

async function archiveShortcut(
  tamper: TamperCase,
  model: ArchiveContents,
): Promise<VerifyFailure | undefined> {
  // As verifyTrail does: the archive's latest checkpoint is the head the log must reach.
  const head = logHeads(model).find((summary) => summary.origin === tamper.origin)!;
  const known = [...(head.checkpoint ? [head.checkpoint] : []), ...(tamper.witness ? [tamper.witness] : [])];
  const previous = tamper.from > 0 ? archivedAppends.get(tamper.origin)![tamper.from - 1]! : undefined;
  const verifier = seededVerifier(
    tamper,
    previous && { checkpoint: previous.checkpoint, frontier: previous.frontier },
    known,
  );
  if (verifier.state.failure) return verifier.state.failure;
  for await (const append of archiveTrailSource(model).appends(tamper.origin, previous?.size ?? 0)) {
    const failure = verifier.push(append);
    if (failure) return failure;
  }
  return verifier.finish({ expectedMinimumSize: head.size }).failure;
}

// ---------------------------------------------------------------------------------------------------------
// The real paths, from the empty log

/** The ledger with some items replaced or deleted, as someone with table access would leave it. */
class TamperedStore implements LedgerStore {
  constructor(
    private readonly inner: LedgerStore,
    private readonly tamper: TamperCase,
  ) {}

  private event(event: StoredEvent): StoredEvent | undefined {
    const edit = this.tamper.events?.get(event.eventId);
    if (edit === null) return undefined;
    return edit ? { ...event, ...edit } : event;
  }

  private append(append: AppendRecord): AppendRecord | undefined {
    if (append.origin !== this.tamper.origin) return append;
    const edit = this.tamper.tableAppends?.get(append.start);
    return edit === null ? undefined : (edit ?? append);
  }

  private async all(origin: string): Promise<AppendRecord[]> {
    const { appends } = await this.inner.listAppends(origin, 0, Number.MAX_SAFE_INTEGER);
    return appends.flatMap((append) => this.append(append) ?? []);
  }

  async readHead(origin: string): Promise<LogHead> {
    const last = (await this.all(origin)).at(-1);
    return last
      ? { origin, size: last.size, frontier: last.frontier, checkpoint: last.checkpoint }
      : { origin, size: 0, frontier: [], checkpoint: null };
  }
  async getEvents(tenant: string, eventIds: readonly string[]): Promise<Map<string, StoredEvent>> {
    const found = await this.inner.getEvents(tenant, eventIds);
    return new Map(
      [...found].flatMap(([id, event]) => {
        const edited = this.event(event);
        return edited ? [[id, edited] as const] : [];
      }),
    );
  }
  commitAppend(): Promise<void> {
    throw new Error('read only');
  }
  async getAppend(origin: string, start: number): Promise<AppendRecord | undefined> {
    const append = await this.inner.getAppend(origin, start);
    return append && this.append(append);
  }
  async listAppends(origin: string, fromStart: number, limit: number) {
    const appends = (await this.all(origin)).filter((append) => append.start >= fromStart);
    const page = appends.slice(0, limit);
    return { appends: page, ...(appends.length > limit ? { next: page.at(-1)!.size } : {}) };
  }
  registerKey(): Promise<void> {
    throw new Error('read only');
  }
  listKeys(): Promise<PublicKeyInfo[]> {
    return this.inner.listKeys();
  }
  queryEvents(query: EventQuery): Promise<EventPage> {
    return this.inner.queryEvents(query);
  }
}

/** The real read handler over the tampered items, paged from the empty log or from the tampered append. */
async function realTable(tamper: TamperCase, fromEmpty: boolean): Promise<VerifyFailure | undefined> {
  const api = auditorApi(new TamperedStore(log.memory, tamper), SHARDS);
  const previous = !fromEmpty && tamper.from > 0 ? served.get(tamper.origin)![tamper.from - 1]! : undefined;
  const verifier = seededVerifier(
    tamper,
    previous && { checkpoint: previous.checkpoint, frontier: previous.frontier },
    [archiveHead.get(tamper.origin)!],
  );
  for await (const append of api.appends(tamper.origin, previous?.size ?? 0, 100)) {
    const failure = verifier.push(append);
    if (failure) return failure;
  }
  return verifier.finish().failure;
}

/** Rewrites the events objects holding the case's lines (gzip JSON lines, as the archiver wrote them). */
async function rewriteEventObjects(target: MemoryArchive, tamper: TamperCase): Promise<void> {
  const byKey = new Map<string, Map<number, ArchivedLine | string | null>>();
  for (const [leafIndex, line] of tamper.lines ?? []) {
    const at = lineAt.get(`${tamper.origin}\n${leafIndex}`)!;
    byKey.set(at.key, (byKey.get(at.key) ?? new Map()).set(at.line, line));
  }
  for (const [key, edits] of byKey) {
    const lines = textLines(gunzipSync(archive.objects.get(key)!));
    const rewritten = lines.flatMap((line, i) => {
      const edit = edits.get(i);
      if (edit === undefined) return [line];
      if (edit === null) return [];
      if (typeof edit !== 'string') return [eventLine(edit, recordTextOf(edit))];
      // The damaged record text spliced into the stored line (the record is the line's last member).
      const stored = JSON.parse(line) as ArchivedEvent;
      return [`${line.slice(0, line.length - canonicalize(stored.record).length - 1)}${edit}}`];
    });
    if (rewritten.length === 0) target.objects.delete(key);
    else
      target.objects.set(
        key,
        gzipDeterministic(new TextEncoder().encode(rewritten.map((line) => `${line}\n`).join(''))),
      );
  }
}

/** The tampered objects in a copy of the archive, read back by `verify --archive` (or its reader, then the seeded verifier). */
async function realArchive(tamper: TamperCase, fromEmpty: boolean): Promise<VerifyFailure | undefined> {
  const damaged = archive.clone();
  await rewriteEventObjects(damaged, tamper);
  const byKey = new Map<string, Map<number, AppendJson | null>>();
  for (const [start, append] of tamper.archiveAppends ?? []) {
    const at = appendLineAt.get(`${tamper.origin}\n${start}`)!;
    byKey.set(at.key, (byKey.get(at.key) ?? new Map()).set(at.line, append));
  }
  for (const [key, edits] of byKey) {
    const rewritten = textLines(archive.objects.get(key)!).flatMap((line, i) => {
      const edit = edits.get(i);
      return edit === undefined ? [line] : edit === null ? [] : [canonicalize(edit)];
    });
    if (rewritten.length === 0) damaged.objects.delete(key);
    else damaged.objects.set(key, new TextEncoder().encode(rewritten.map((line) => `${line}\n`).join('')));
  }
  if (fromEmpty) return (await verifyArchive(damaged)).failure;
  let read: ArchiveContents;
  try {
    read = await readArchive(damaged);
  } catch (error) {
    if (error instanceof ArchiveReadError) return error.failure;
    throw error;
  }
  return archiveShortcut(tamper, read);
}

// ---------------------------------------------------------------------------------------------------------

/** What is wrong with a verdict (nothing if the failure is the expected one at the expected place). */
function misnamed(tamper: TamperCase, failure: VerifyFailure | undefined): string | undefined {
  const e = tamper.expected;
  if (!failure) return 'not detected';
  const problems: string[] = [];
  if (!e.checks.includes(failure.check))
    problems.push(`check ${failure.check}, expected ${e.checks.join('|')}`);
  if (failure.origin !== tamper.origin && !(e.checks.includes('format') && failure.check === 'format'))
    problems.push(`origin ${failure.origin}`);
  // A record change caught by the leaf or receipt check names the leaf; caught only by the root it cannot.
  const pinned = failure.check !== 'root';
  if (pinned && e.leafIndex !== undefined && failure.leafIndex !== e.leafIndex)
    problems.push(`leaf ${failure.leafIndex}, expected ${e.leafIndex}`);
  if (pinned && e.eventId !== undefined && failure.eventId !== e.eventId)
    problems.push(`event ${failure.eventId}, expected ${e.eventId}`);
  if (e.appendStart !== undefined && failure.appendStart !== e.appendStart)
    problems.push(`append ${failure.appendStart}, expected ${e.appendStart}`);
  if (e.noLeaf && failure.leafIndex !== undefined)
    problems.push(`names leaf ${failure.leafIndex}, but no leaf is at fault`);
  for (const text of e.messageIncludes ?? [])
    if (!`${failure.message} `.includes(text))
      problems.push(`message lacks ${JSON.stringify(text)}: ${failure.message}`);
  return problems.length > 0
    ? `${problems.join('; ')} (${failure.check}: ${failure.message.slice(0, 160)})`
    : undefined;
}

/** Same failure at the same place (`verify --archive` also names the lost event and append of a truncation). */
const sameVerdict = (a: VerifyFailure | undefined, b: VerifyFailure | undefined) =>
  a?.check === b?.check &&
  a?.leafIndex === b?.leafIndex &&
  (a?.appendStart === undefined || b?.appendStart === undefined || a.appendStart === b.appendStart) &&
  (a?.eventId === undefined || b?.eventId === undefined || a.eventId === b.eventId);

const KINDS: readonly Kind[] = ['byte', 'delete', 'swap', 'truncate', 'signature', 'frontier'];
const SIDES: readonly Side[] = ['table', 'archive'];

describe('tamper matrix over a 10,000-event log', () => {
  it('verifies the untouched log in full, from the table (read API) and from the archive', async () => {
    let leaves = 0;
    let signatures = 0;
    for (const origin of log.origins) {
      const verifier = new LogVerifier({ origin, keys, knownCheckpoints: [archiveHead.get(origin)!] });
      for (const append of served.get(origin)!) expect(verifier.push(append)).toBeUndefined();
      const result = verifier.finish();
      expect(result.failure).toBeUndefined();
      leaves += result.leaves;
      signatures += result.signatures;
    }
    const report = await verifyArchive(archive);
    printCounts('tamper-matrix pristine', {
      events: EVENTS,
      logs: log.origins.length,
      appends: [...log.appends.values()].reduce((sum, list) => sum + list.length, 0),
      tableLeaves: leaves,
      tableSignatures: signatures,
      archiveObjects: archive.objects.size,
      archiveLeaves: report.totals.leaves,
      archiveOk: report.ok,
    });
    expect(leaves).toBe(EVENTS);
    expect(report.failure).toBeUndefined();
    expect(report.totals.leaves).toBe(EVENTS);
    expect(report.eventsListed).toBe(EVENTS);
  });

  for (const kind of KINDS) {
    for (const side of SIDES) {
      it(`detects every ${kind} tamper on the ${side} side and names the first bad position (${CASES} seeded cases, sample re-run from the empty log)`, async () => {
        const random = prng(SEED + KINDS.indexOf(kind) * 10 + SIDES.indexOf(side));
        const variants = new Map<string, number>();
        const problems: string[] = [];
        const real: TamperCase[] = [];
        let tried = 0;
        let detected = 0;
        let named = 0;
        let sameValue = 0;
        while (tried < CASES) {
          const tamper = makeCase(side, kind, random);
          if ('skipped' in tamper) {
            sameValue++;
            continue;
          }
          tried++;
          variants.set(tamper.variant, (variants.get(tamper.variant) ?? 0) + 1);
          // The first case, and the first record change that breaks the JSON, also go through the real path.
          const firstOfVariant = variants.get(tamper.variant) === 1;
          if (
            !tamper.witness &&
            (real.length === 0 || (firstOfVariant && (kind === 'byte' || tamper.variant === 'breaks-json')))
          )
            real.push(tamper);
          const failure = await shortcut(tamper);
          if (failure) detected++;
          const problem = misnamed(tamper, failure);
          if (problem) problems.push(`${tamper.variant} @${tamper.origin} append#${tamper.from}: ${problem}`);
          else named++;
        }
        let realChecked = 0;
        let fromEmptyChecked = 0;
        for (const [i, tamper] of real.entries()) {
          // One case per kind replays the whole log from the empty tree (sides alternate: each costs a full replay).
          const fromEmpty =
            i === 0 && (kind === 'byte' || (KINDS.indexOf(kind) + SIDES.indexOf(side)) % 2 === 1);
          const verdict =
            side === 'table' ? await realTable(tamper, fromEmpty) : await realArchive(tamper, fromEmpty);
          const problem = misnamed(tamper, verdict);
          if (problem) problems.push(`real path, ${tamper.variant}: ${problem}`);
          if (!sameVerdict(verdict, await shortcut(tamper)))
            problems.push(`real path and shortcut disagree on ${tamper.variant}`);
          realChecked++;
          if (fromEmpty) fromEmptyChecked++;
        }
        printCounts(`tamper-matrix ${kind}/${side}`, {
          tried,
          detected,
          named,
          lost: tried - detected,
          realPath: realChecked,
          realPathFromEmptyLog: fromEmptyChecked,
          ...(kind === 'byte' ? { sameValueSkipped: sameValue } : {}),
          variants: [...variants].map(([variant, n]) => `${variant.replaceAll(' ', '_')}:${n}`).join(','),
        });
        expect(problems.slice(0, 10)).toEqual([]);
        expect(detected).toBe(tried);
        expect(named).toBe(tried);
        expect(tried).toBe(CASES);
        expect(realChecked).toBeGreaterThan(0);
      });
    }
  }
});
