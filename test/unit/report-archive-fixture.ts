import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { LocalSigner } from '#adapters/local-signer.ts';
import {
  type ArchivedEvent,
  checkpointsObjectKey,
  eventLine,
  eventsObjectKey,
  keyObjectKey,
} from '#core/archive-layout.ts';
import { canonicalBytes, canonicalize } from '#core/canonical.ts';
import { formatCheckpointBody } from '#core/checkpoint.ts';
import { CompactRange, leafHash, PartialTree, toHex } from '#core/merkle.ts';
import type { ArchiveStore } from '#core/ports.ts';
import { buildRecord } from '#core/record.ts';
import { AuditEventInput } from '#core/schema.ts';
import { signCheckpoint } from '#core/signer.ts';
import type { AppendJson } from '#core/wire.ts';
import type { StoredArchive } from '../../cli/archive/read-archive.ts';

/**
 * Writes a test archive with the real core, laid out as archive-layout.ts says: records are built and
 * canonicalized as ingest does, leaves hashed, each append's checkpoint computed with PartialTree and signed
 * by a LocalSigner, and events/, checkpoints/ and keys/ objects written into a directory.
 */
export interface FixtureAppend {
  /** Server receive time shared by the append's records (one ingest request). */
  readonly receivedAt: string;
  readonly events: readonly AuditEventInput[];
  /** Archive this append in the same events object as the previous one (one stream batch). */
  readonly sameObjectAsPrevious?: boolean;
}

export interface FixtureLog {
  readonly origin: string;
  readonly tenant: string;
  readonly appends: readonly FixtureAppend[];
}

export interface BuiltArchive {
  readonly dir: string;
  readonly signer: LocalSigner;
  readonly appends: ReadonlyMap<string, AppendJson[]>;
  readonly events: readonly ArchivedEvent[];
  /** Object keys written, in write order. */
  readonly eventObjects: string[];
  readonly checkpointObjects: string[];
}

export const CALLER = {
  principalArn: 'arn:aws:iam::123456789012:role/ci',
  accountId: '123456789012',
  sourceIp: '198.51.100.7',
};

interface LogBuild {
  appends: AppendJson[];
  events: ArchivedEvent[];
}

async function buildLog(log: FixtureLog, signer: LocalSigner): Promise<LogBuild & { groups: number[][] }> {
  const range = CompactRange.empty();
  let previous: AppendJson['previous'] = null;
  const appends: AppendJson[] = [];
  const events: ArchivedEvent[] = [];
  const groups: number[][] = [];
  for (const spec of log.appends) {
    const start = range.size;
    const previousFrontier = range.frontier.map(toHex);
    const records = spec.events.map((input) =>
      buildRecord(AuditEventInput.parse(input), {
        tenant: log.tenant,
        receivedAt: spec.receivedAt,
        caller: CALLER,
      }),
    );
    const leaves = records.map((record) => leafHash(canonicalBytes(record)));
    const tree = new PartialTree(start, range.frontier, leaves);
    for (const leaf of leaves) range.append(leaf);
    const checkpoint = await signCheckpoint(
      signer,
      formatCheckpointBody({ origin: log.origin, size: range.size, rootHash: tree.root() }),
    );
    const append: AppendJson = {
      origin: log.origin,
      tenant: log.tenant,
      start,
      size: range.size,
      previous,
      previousFrontier,
      checkpoint,
      frontier: range.frontier.map(toHex),
      eventIds: records.map((record) => record.id),
    };
    previous = checkpoint;
    appends.push(append);
    events.push(
      ...records.map((record, i) => ({
        origin: log.origin,
        leafIndex: start + i,
        leafHash: toHex(leaves[i]!),
        appendStart: start,
        eventId: record.id,
        record: { ...record },
      })),
    );
    if (spec.sameObjectAsPrevious && groups.length > 0) groups[groups.length - 1]!.push(appends.length - 1);
    else groups.push([appends.length - 1]);
  }
  return { appends, events, groups };
}

const write = (dir: string, key: string, body: Uint8Array | string) => {
  const path = join(dir, ...key.split('/'));
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, body);
};

export const jsonLines = (items: readonly unknown[]) =>
  items.map((item) => `${JSON.stringify(item)}\n`).join('');

/** Events lines as the archiver writes them: the canonical line, its record's canonical text embedded. */
export const eventLines = (events: readonly ArchivedEvent[]) =>
  events.map(({ record, ...fields }) => `${eventLine(fields, canonicalize(record))}\n`).join('');

export async function writeArchive(
  dir: string,
  logs: readonly FixtureLog[],
  signer = LocalSigner.generate(),
): Promise<BuiltArchive> {
  const built: BuiltArchive = {
    dir,
    signer,
    appends: new Map(),
    events: [],
    eventObjects: [],
    checkpointObjects: [],
  };
  for (const log of logs) {
    const { appends, events, groups } = await buildLog(log, signer);
    (built.appends as Map<string, AppendJson[]>).set(log.origin, appends);
    (built.events as ArchivedEvent[]).push(...events);
    for (const group of groups) {
      const groupAppends = group.map((i) => appends[i]!);
      const first = groupAppends[0]!;
      const last = groupAppends[groupAppends.length - 1]!;
      const lines = events.filter((event) => event.leafIndex >= first.start && event.leafIndex < last.size);
      const eventsKey = eventsObjectKey(
        log.tenant,
        String(lines[0]!.record.receivedAt),
        log.origin,
        first.start,
        last.size - 1,
      );
      write(dir, eventsKey, gzipSync(eventLines(lines)));
      built.eventObjects.push(eventsKey);
      const checkpointsKey = checkpointsObjectKey(log.origin, first.start, last.size);
      write(dir, checkpointsKey, jsonLines(groupAppends));
      built.checkpointObjects.push(checkpointsKey);
    }
  }
  const key = await signer.publicKey();
  write(dir, keyObjectKey(key.keyId), JSON.stringify(key));
  return built;
}

/** Writes some leaves again as another object (a retried batch split differently): same lines, another key. */
export function writeDuplicateObject(
  archive: BuiltArchive,
  origin: string,
  leafIndexes: readonly number[],
): string {
  const lines = archive.events.filter(
    (event) => event.origin === origin && leafIndexes.includes(event.leafIndex),
  );
  const first = lines[0]!;
  const key = eventsObjectKey(
    String(first.record.tenant),
    String(first.record.receivedAt),
    origin,
    first.leafIndex,
    lines[lines.length - 1]!.leafIndex,
  );
  write(archive.dir, key, gzipSync(eventLines(lines)));
  return key;
}

/** An archive's objects held in memory as a read-only store (tests change objects without writing files). */
export function storeOf(archive: StoredArchive): ArchiveStore {
  const bodies = new Map(
    [...archive.keys, ...archive.checkpoints, ...archive.events].map(({ key, body }) => [key, body]),
  );
  return {
    put: async () => {
      throw new Error('read-only archive');
    },
    get: async (key) => bodies.get(key),
    list: async function* (prefix) {
      for (const key of [...bodies.keys()].sort()) if (key.startsWith(prefix)) yield key;
    },
  };
}
