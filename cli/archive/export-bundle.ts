import { createHash } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ArchivedLine, recordTextOf } from '#core/archive-layout.ts';
import { parseCheckpointBody } from '#core/checkpoint.ts';
import { equalHashes, fromHex, PartialTree } from '#core/merkle.ts';
import type { ArchiveStore } from '#core/ports.ts';
import { buildReceipt } from '#core/receipt.ts';
import type { VerifyFailure } from '#core/verify-log.ts';
import type { AppendJson } from '#core/wire.ts';
import { verifyTrail } from '../verify-trail.ts';
import { archiveTrailSource } from './archive-source.ts';
import {
  BUNDLE_FILES,
  BUNDLE_FORMAT,
  type BundleAppend,
  type BundleEvent,
  type Manifest,
} from './bundle-format.ts';
import { bundleReadme } from './bundle-readme.ts';
import { type ArchiveContents, ArchiveReadError, readArchive } from './read-archive.ts';

export interface ExportOptions {
  /** Inclusive, `toISOString()` form (compared with receivedAt). */
  readonly from: string;
  /** Exclusive. */
  readonly to: string;
  readonly tenant?: string;
  readonly outDir: string;
  readonly tool: { readonly name: string; readonly version: string };
  readonly now?: () => Date;
}

export type ExportResult = { ok: true; manifest: Manifest } | { ok: false; failure: VerifyFailure };

/**
 * Writes an evidence bundle for the events received in [from, to). The archive is verified first: a bundle
 * is only made from a trail that verifies, so its receipts and chain are the verified ones.
 */
export async function exportBundle(store: ArchiveStore, options: ExportOptions): Promise<ExportResult> {
  await ensureEmpty(options.outDir);
  let contents: ArchiveContents;
  try {
    contents = await readArchive(store, options.tenant ? { tenant: options.tenant } : {});
  } catch (error) {
    if (error instanceof ArchiveReadError) return { ok: false, failure: error.failure };
    throw error;
  }
  const verified = await verifyTrail(archiveTrailSource(contents));
  if (verified.failure) return { ok: false, failure: verified.failure };
  const selected = selectEvents(contents, options);
  const origins = [...new Set(selected.map((event) => event.origin))].sort();
  const chains = origins.map((origin) => bundleChain(contents, origin));
  const events = selected.map((event) => bundleEvent(contents, event));
  const files = new Map<string, string>([
    [BUNDLE_FILES.events, jsonLines(events)],
    [BUNDLE_FILES.checkpoints, jsonLines(chains.flat())],
    [BUNDLE_FILES.keys, `${JSON.stringify({ keys: contents.keys }, null, 2)}\n`],
    [BUNDLE_FILES.readme, bundleReadme(options)],
  ]);
  const manifest: Manifest = {
    format: BUNDLE_FORMAT,
    tool: { ...options.tool },
    createdAt: (options.now?.() ?? new Date()).toISOString(),
    range: { from: options.from, to: options.to, field: 'receivedAt' },
    tenant: options.tenant ?? null,
    counts: {
      events: events.length,
      logs: chains.length,
      appends: chains.flat().length,
      keys: contents.keys.length,
    },
    logs: chains.map((chain) => {
      const head = chain[chain.length - 1]!;
      return { origin: head.origin, size: head.size, checkpoint: head.checkpoint };
    }),
    files: [...files].map(([path, text]) => ({ path, sha256: sha256(text), bytes: Buffer.byteLength(text) })),
  };
  files.set(BUNDLE_FILES.manifest, `${JSON.stringify(manifest, null, 2)}\n`);
  for (const [path, text] of files) await writeFile(join(options.outDir, path), text);
  return { ok: true, manifest };
}

/** Evidence is never written over other files. */
async function ensureEmpty(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const entries = await readdir(dir);
  if (entries.length > 0)
    throw new Error(`${dir} is not empty: export writes a bundle into a new or empty directory`);
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const jsonLines = (items: readonly unknown[]) => items.map((item) => `${JSON.stringify(item)}\n`).join('');

/** An archived line's position and ids with its record parsed (the archive keeps records as bytes). */
interface ExportedEvent extends Omit<ArchivedLine, 'recordBytes' | 'appendStart'> {
  readonly record: Record<string, unknown>;
}

function selectEvents(contents: ArchiveContents, options: ExportOptions): ExportedEvent[] {
  const selected: ExportedEvent[] = [];
  for (const log of contents.events.values()) {
    for (const line of log.values()) {
      // The archive verified, so every record text is a leaf: canonical JSON of an object.
      const record = JSON.parse(recordTextOf(line)) as Record<string, unknown>;
      const receivedAt = String(record.receivedAt);
      if (receivedAt < options.from || receivedAt >= options.to) continue;
      if (options.tenant && record.tenant !== options.tenant) continue;
      // Fields are read one by one: a line read from an archive is a view whose fields are getters.
      const { eventId, leafHash, leafIndex, origin } = line;
      selected.push({ eventId, leafHash, leafIndex, origin, record });
    }
  }
  const order = (e: ExportedEvent) =>
    `${String(e.record.receivedAt)}\n${e.origin}\n${String(e.leafIndex).padStart(16, '0')}`;
  return selected.sort((a, b) => (order(a) < order(b) ? -1 : 1));
}

const appendsOf = (contents: ArchiveContents, origin: string): AppendJson[] =>
  [...(contents.appends.get(origin)?.values() ?? [])].sort((a, b) => a.start - b.start);

function leafHashesOf(contents: ArchiveContents, append: AppendJson): string[] {
  const events = contents.events.get(append.origin)!;
  return Array.from({ length: append.size - append.start }, (_, i) => events.get(append.start + i)!.leafHash);
}

/** The log's whole verified chain, with leaf hashes, so each checkpoint can be recomputed from the last. */
function bundleChain(contents: ArchiveContents, origin: string): BundleAppend[] {
  return appendsOf(contents, origin).map((append) => ({
    ...append,
    leafHashes: leafHashesOf(contents, append),
  }));
}

/** The event's receipt, rebuilt as the API does (receipts.ts): previous frontier + the append's leaves. */
function bundleEvent(contents: ArchiveContents, event: ExportedEvent): BundleEvent {
  // The line's appendStart is not hashed: the append is found by the leaf's position instead.
  const append = appendsOf(contents, event.origin).find(
    (a) => a.start <= event.leafIndex && event.leafIndex < a.size,
  )!;
  const leaves = leafHashesOf(contents, append).map(fromHex);
  const tree = new PartialTree(append.start, append.previousFrontier.map(fromHex), leaves);
  // The archive verified, so this holds; checked anyway so a bug can never ship a proof that fails.
  if (!equalHashes(tree.root(), parseCheckpointBody(append.checkpoint.body).rootHash)) {
    throw new Error(`append ${append.start} of ${append.origin} does not match its checkpoint`);
  }
  const receipt = buildReceipt({
    eventId: event.eventId,
    origin: event.origin,
    leafIndex: event.leafIndex,
    leafHash: fromHex(event.leafHash),
    inclusionProof: tree.inclusionProof(event.leafIndex),
    checkpoint: append.checkpoint,
  });
  return { record: event.record, receipt };
}
