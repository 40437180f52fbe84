import type { ArchivedLine } from '#core/archive-layout.ts';
import { parseCheckpointBody } from '#core/checkpoint.ts';
import { LeafSlots } from '#core/leaf-slots.ts';
import type { VerifiableAppend } from '#core/verify-log.ts';
import type { AppendJson } from '#core/wire.ts';
import type { LogSummary } from '../client.ts';
import type { TrailSource } from '../verify-trail.ts';
import type { ArchiveContents } from './read-archive.ts';

/**
 * The archive as a trail source for `verifyTrail`: each log's appends (checkpoints/) joined with their leaves
 * (events/), the archive's latest checkpoint of each log as its head (the high-water mark a truncated log
 * fails against), and every archived record as a listed event that must sit on a verified leaf.
 *
 * Records stay bytes throughout: leaves carry each line's record bytes (the leaf, which the verifier hashes
 * as they are), and the listed events are the lines themselves (id and bytes), which the verifier matches
 * with the verified leaf's bytes. No record is decoded or parsed on this path.
 */
export function archiveTrailSource(contents: ArchiveContents): TrailSource {
  return {
    publicKeys: async () => contents.keys,
    logs: async () => logHeads(contents),
    appends: (origin, from) => appendsWithLeaves(contents, origin, from),
    async *events() {
      for (const log of contents.events.values()) yield [...log.values()];
    },
    async locate(eventId) {
      const line = findLine(contents, eventId);
      return line
        ? { eventId, origin: line.origin, leafIndex: line.leafIndex }
        : { unavailable: 'not in the archive' };
    },
  };
}

/** Each log's highest archived checkpoint; a log with events but no appends has head size 0. */
export function logHeads(contents: ArchiveContents): LogSummary[] {
  const origins = new Set([...contents.appends.keys(), ...contents.events.keys()]);
  return [...origins].sort().map((origin) => {
    const appends = [...(contents.appends.get(origin)?.values() ?? [])];
    const head = appends.reduce<AppendJson | undefined>(
      (best, append) => (!best || append.size > best.size ? append : best),
      undefined,
    );
    return { origin, size: head ? checkpointSize(head) : 0, checkpoint: head?.checkpoint ?? null };
  });
}

/** The size the checkpoint itself states (the append's `size` field is not what was signed). */
function checkpointSize(append: AppendJson): number {
  try {
    return parseCheckpointBody(append.checkpoint.body).size;
  } catch {
    return append.size;
  }
}

/**
 * Appends in order from `from`, each with the leaves archived for it. An append is served even with leaves
 * missing (the verifier names the first missing leaf), except at the tail: once no later append has any
 * archived leaf, the log's records end there and the verifier reports the truncation against the head.
 */
async function* appendsWithLeaves(
  contents: ArchiveContents,
  origin: string,
  from: number,
): AsyncIterable<VerifiableAppend> {
  const appends = [...(contents.appends.get(origin)?.values() ?? [])]
    .filter((a) => a.start >= from)
    .sort((a, b) => a.start - b.start);
  const events = contents.events.get(origin) ?? new LeafSlots<ArchivedLine>();
  const lastWithLeaves = appends.findLastIndex((append) => leavesOf(append, events).length > 0);
  for (const append of appends.slice(0, lastWithLeaves + 1))
    yield { ...append, leaves: leavesOf(append, events) };
}

/**
 * The append's archived lines, served as they are: a line has a leaf's fields (`leafIndex`, `eventId`,
 * `leafHash`, `recordBytes`), and its `eventId` is checked by the verifier against the append and the
 * record's own id.
 */
function leavesOf(append: AppendJson, events: LeafSlots<ArchivedLine>): ArchivedLine[] {
  const leaves: ArchivedLine[] = [];
  for (let leafIndex = append.start; leafIndex < append.size; leafIndex++) {
    const line = events.get(leafIndex);
    if (line) leaves.push(line);
  }
  return leaves;
}

function findLine(contents: ArchiveContents, eventId: string): ArchivedLine | undefined {
  for (const log of contents.events.values()) {
    for (const line of log.values()) if (line.eventId === eventId) return line;
  }
  return undefined;
}
