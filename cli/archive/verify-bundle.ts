import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseCheckpointBody } from '#core/checkpoint.ts';
import { CompactRange, equalHashes, fromHex, PartialTree, toHex } from '#core/merkle.ts';
import { verifyReceipt } from '#core/receipt.ts';
import { keyMap, type PublicKeyInfo, verifyCheckpointSignature } from '#core/signer.ts';
import type { VerifyCheck } from '#core/verify-log.ts';
import { BUNDLE_FILES, BundleAppend, BundleEvent, BundleKeys, Manifest } from './bundle-format.ts';

export type BundleCheck = VerifyCheck | 'manifest';

export interface BundleFailure {
  readonly check: BundleCheck;
  readonly message: string;
  readonly origin?: string;
  readonly leafIndex?: number;
  readonly eventId?: string;
  readonly appendStart?: number;
  readonly file?: string;
}

export interface BundleVerification {
  readonly ok: boolean;
  readonly failure?: BundleFailure;
  readonly events: number;
  readonly logs: number;
  readonly appends: number;
  readonly signatures: number;
  readonly range?: Manifest['range'];
  readonly tenant?: string | null;
}

class BundleError extends Error {
  constructor(readonly failure: BundleFailure) {
    super(failure.message);
  }
}
function fail(failure: BundleFailure): never {
  throw new BundleError(failure);
}

interface Counters {
  events: number;
  logs: number;
  appends: number;
  signatures: number;
}

/**
 * Verifies an evidence bundle offline, with nothing but its own files: the manifest's file hashes; each
 * log's chain of appends from leaf 0 (every checkpoint signed, extending the previous one, its root
 * recomputed from the previous frontier and the leaf hashes); each event's receipt (leaf hash, inclusion
 * proof, signature) under a checkpoint of that chain and with the chain's leaf hash at its position.
 */
export async function verifyBundle(dir: string): Promise<BundleVerification> {
  const counters: Counters = { events: 0, logs: 0, appends: 0, signatures: 0 };
  let manifest: Manifest | undefined;
  try {
    manifest = await checkManifest(dir);
    const keys = keyMap(await readKeys(dir));
    const chains = await checkChains(dir, keys, counters);
    await checkHeads(manifest, chains);
    await checkEvents(dir, manifest, keys, chains, counters);
    return { ok: true, ...counters, range: manifest.range, tenant: manifest.tenant };
  } catch (error) {
    if (!(error instanceof BundleError)) throw error;
    return {
      ok: false,
      failure: error.failure,
      ...counters,
      ...(manifest ? { range: manifest.range, tenant: manifest.tenant } : {}),
    };
  }
}

async function readText(dir: string, file: string): Promise<string> {
  try {
    return await readFile(join(dir, file), 'utf8');
  } catch {
    return fail({ check: 'manifest', file, message: `${file} is missing from the bundle` });
  }
}

function parseLines<T>(text: string, file: string, parse: (value: unknown) => T | undefined): T[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line, i) => {
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        return fail({ check: 'format', file, message: `${file} line ${i + 1} is not JSON` });
      }
      return (
        parse(value) ??
        fail({ check: 'format', file, message: `${file} line ${i + 1} is not in the bundle format` })
      );
    });
}

/** Every file the manifest lists has its hash; no file is unlisted (a planted file would go unnoticed). */
async function checkManifest(dir: string): Promise<Manifest> {
  let manifest: Manifest;
  try {
    manifest = Manifest.parse(JSON.parse(await readText(dir, BUNDLE_FILES.manifest)));
  } catch (error) {
    if (error instanceof BundleError) throw error;
    return fail({
      check: 'manifest',
      file: BUNDLE_FILES.manifest,
      message: 'manifest.json is not a bundle manifest',
    });
  }
  for (const entry of manifest.files) {
    const text = await readFile(join(dir, entry.path)).catch(() => undefined);
    if (!text)
      fail({
        check: 'manifest',
        file: entry.path,
        message: `${entry.path} is listed in the manifest but missing`,
      });
    const digest = createHash('sha256').update(text).digest('hex');
    if (digest !== entry.sha256) {
      fail({
        check: 'manifest',
        file: entry.path,
        message: `${entry.path} has SHA-256 ${digest}, the manifest says ${entry.sha256}`,
      });
    }
  }
  const listed = new Set([BUNDLE_FILES.manifest, ...manifest.files.map((entry) => entry.path)]);
  const extra = (await readdir(dir)).filter((name) => !listed.has(name));
  if (extra.length > 0)
    fail({
      check: 'manifest',
      file: extra[0],
      message: `${extra[0]} is in the bundle but not in the manifest`,
    });
  return manifest;
}

async function readKeys(dir: string): Promise<PublicKeyInfo[]> {
  const parsed = BundleKeys.safeParse(JSON.parse(await readText(dir, BUNDLE_FILES.keys)));
  if (!parsed.success)
    fail({ check: 'format', file: BUNDLE_FILES.keys, message: 'public-keys.json is not {keys: [...]}' });
  return parsed.data.keys;
}

/** Per origin: the verified appends in order (the chain). */
type Chains = Map<string, BundleAppend[]>;

async function checkChains(
  dir: string,
  keys: ReadonlyMap<string, PublicKeyInfo>,
  counters: Counters,
): Promise<Chains> {
  const appends = parseLines(
    await readText(dir, BUNDLE_FILES.checkpoints),
    BUNDLE_FILES.checkpoints,
    (value) => {
      const parsed = BundleAppend.safeParse(value);
      return parsed.success ? (value as BundleAppend) : undefined;
    },
  );
  const chains: Chains = new Map();
  for (const append of appends) chains.set(append.origin, [...(chains.get(append.origin) ?? []), append]);
  for (const [origin, chain] of chains) {
    let range = CompactRange.empty();
    let previous: BundleAppend | undefined;
    for (const append of chain) {
      range = checkAppend(origin, append, previous, range, keys);
      counters.appends += 1;
      counters.signatures += 1;
      previous = append;
    }
    counters.logs += 1;
  }
  return chains;
}

/** One link: it starts where the last ended, names the last checkpoint, and its signed root is recomputed. */
function checkAppend(
  origin: string,
  append: BundleAppend,
  previous: BundleAppend | undefined,
  range: CompactRange,
  keys: ReadonlyMap<string, PublicKeyInfo>,
): CompactRange {
  const at = { origin, appendStart: append.start, file: BUNDLE_FILES.checkpoints };
  if (append.start !== range.size)
    fail({
      ...at,
      check: 'gap',
      leafIndex: range.size,
      message: `append ${append.start} follows a chain of ${range.size} leaves`,
    });
  if (JSON.stringify(append.previous) !== JSON.stringify(previous?.checkpoint ?? null)) {
    fail({
      ...at,
      check: 'previous-checkpoint',
      message: `append ${append.start} does not name the previous checkpoint`,
    });
  }
  const hex = range.frontier.map(toHex);
  if (append.previousFrontier.join() !== hex.join())
    fail({ ...at, check: 'frontier', message: `append ${append.start} extends another frontier` });
  if (
    append.leafHashes.length !== append.size - append.start ||
    append.eventIds.length !== append.leafHashes.length
  ) {
    fail({
      ...at,
      check: 'format',
      message: `append ${append.start} lists ${append.leafHashes.length} leaf hashes for size ${append.size}`,
    });
  }
  const leaves = append.leafHashes.map(fromHex);
  const next = range.clone();
  for (const leaf of leaves) next.append(leaf);
  let body: ReturnType<typeof parseCheckpointBody>;
  try {
    body = parseCheckpointBody(append.checkpoint.body);
  } catch (error) {
    return fail({ ...at, check: 'checkpoint-format', message: (error as Error).message });
  }
  if (body.origin !== origin || body.size !== append.size)
    fail({
      ...at,
      check: 'checkpoint-format',
      message: `checkpoint of append ${append.start} is for ${body.origin} size ${body.size}`,
    });
  const root = new PartialTree(append.start, range.frontier, leaves).root();
  if (!equalHashes(root, body.rootHash))
    fail({
      ...at,
      check: 'root',
      message: `leaf hashes of append ${append.start} give another root than its checkpoint signs`,
    });
  if (append.frontier.join() !== next.frontier.map(toHex).join())
    fail({
      ...at,
      check: 'frontier',
      message: `stored frontier after append ${append.start} is not the recomputed one`,
    });
  const signature = verifyCheckpointSignature(append.checkpoint, keys);
  if (!signature.ok)
    fail({
      ...at,
      check: keys.has(append.checkpoint.keyId) ? 'signature' : 'unknown-key',
      message: signature.reason,
    });
  return next;
}

/** The manifest's log heads are the chains' last checkpoints (a chain cut short is caught here). */
async function checkHeads(manifest: Manifest, chains: Chains): Promise<void> {
  for (const head of manifest.logs) {
    const last = chains.get(head.origin)?.at(-1);
    if (
      !last ||
      last.checkpoint.body !== head.checkpoint.body ||
      last.checkpoint.signature !== head.checkpoint.signature
    ) {
      fail({
        check: 'truncated',
        origin: head.origin,
        leafIndex: last?.size ?? 0,
        file: BUNDLE_FILES.checkpoints,
        message: `the chain of ${head.origin} ends at size ${last?.size ?? 0}, the manifest's head is size ${head.size}`,
      });
    }
  }
  if (manifest.logs.length !== chains.size)
    fail({
      check: 'manifest',
      message: `the manifest names ${manifest.logs.length} logs, the chain file ${chains.size}`,
    });
}

async function checkEvents(
  dir: string,
  manifest: Manifest,
  keys: ReadonlyMap<string, PublicKeyInfo>,
  chains: Chains,
  counters: Counters,
): Promise<void> {
  const events = parseLines(await readText(dir, BUNDLE_FILES.events), BUNDLE_FILES.events, (value) =>
    BundleEvent.safeParse(value).success ? (value as BundleEvent) : undefined,
  );
  const seen = new Set<string>();
  for (const { record, receipt } of events) {
    const at = {
      origin: receipt.origin,
      leafIndex: receipt.leafIndex,
      eventId: receipt.eventId,
      file: BUNDLE_FILES.events,
    };
    const verdict = verifyReceipt(record, receipt, keys);
    if (!verdict.ok)
      fail({
        ...at,
        check:
          verdict.check === 'inclusion' ? 'root' : verdict.check === 'leaf-hash' ? 'leaf-hash' : 'receipt',
        message: `receipt fails (${verdict.check}): ${verdict.reason}`,
      });
    const append = chains
      .get(receipt.origin)
      ?.find((a) => a.start <= receipt.leafIndex && receipt.leafIndex < a.size);
    if (
      !append ||
      append.checkpoint.body !== receipt.checkpoint.body ||
      append.checkpoint.signature !== receipt.checkpoint.signature
    ) {
      fail({
        ...at,
        check: 'fork',
        message: `the receipt's checkpoint is not the one the chain signed for leaf ${receipt.leafIndex}`,
      });
    }
    if (append.leafHashes[receipt.leafIndex - append.start] !== receipt.leafHash) {
      fail({
        ...at,
        check: 'leaf-hash',
        message: `leaf ${receipt.leafIndex} in the chain is not this record's hash`,
      });
    }
    const key = `${receipt.origin}\n${receipt.leafIndex}`;
    if (seen.has(key)) fail({ ...at, check: 'format', message: `leaf ${receipt.leafIndex} appears twice` });
    seen.add(key);
    checkInRange(record, manifest, at);
    counters.events += 1;
  }
  if (counters.events !== manifest.counts.events)
    fail({
      check: 'manifest',
      message: `${counters.events} events, the manifest counts ${manifest.counts.events}`,
    });
}

function checkInRange(
  record: Record<string, unknown>,
  manifest: Manifest,
  at: Omit<BundleFailure, 'check' | 'message'>,
): void {
  const receivedAt = String(record.receivedAt);
  if (
    receivedAt < manifest.range.from ||
    receivedAt >= manifest.range.to ||
    (manifest.tenant !== null && record.tenant !== manifest.tenant)
  ) {
    fail({
      ...at,
      check: 'format',
      message: `event received at ${receivedAt} (tenant ${String(record.tenant)}) is outside the bundle's range`,
    });
  }
}

/** True if a directory holds a bundle rather than an archive. */
export async function isBundle(dir: string): Promise<boolean> {
  return readFile(join(dir, BUNDLE_FILES.manifest)).then(
    () => true,
    () => false,
  );
}
