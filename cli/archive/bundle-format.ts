import { z } from 'zod';
import { SignedCheckpoint } from '#core/checkpoint.ts';
import { Receipt } from '#core/receipt.ts';
import { AppendJson } from '#core/wire.ts';

/**
 * The evidence bundle (docs/EVIDENCE.md): what `export` writes and `verify-archive BUNDLE` checks offline.
 *
 * - `events.jsonl`: `{record, receipt}` per event received in the range, the receipt rebuilt from the archive.
 * - `checkpoints.jsonl`: every append of each covered log from leaf 0 to the archive's latest checkpoint,
 *   with the hashes (not the records) of its leaves, so the whole chain of signed checkpoints can be
 *   recomputed without disclosing events outside the range.
 * - `public-keys.json`: `{keys: [...]}` as `GET /v1/public-keys` serves it.
 * - `manifest.json`: range, counts, log heads, tool version and the SHA-256 of every other file.
 * - `README.md`: how an outside auditor verifies it.
 */
export const BUNDLE_FORMAT = 'audit-trail-evidence/1';
export const BUNDLE_FILES = {
  events: 'events.jsonl',
  checkpoints: 'checkpoints.jsonl',
  keys: 'public-keys.json',
  readme: 'README.md',
  manifest: 'manifest.json',
} as const;

const HexHash = z.string().regex(/^[0-9a-f]{64}$/);

export const BundleEvent = z.strictObject({ record: z.record(z.string(), z.unknown()), receipt: Receipt });
export type BundleEvent = z.infer<typeof BundleEvent>;

export const BundleAppend = AppendJson.extend({ leafHashes: z.array(HexHash) });
export type BundleAppend = z.infer<typeof BundleAppend>;

export const BundleKeys = z.strictObject({
  keys: z.array(
    z.strictObject({
      keyId: z.string(),
      algorithm: SignedCheckpoint.shape.algorithm,
      publicKeyPem: z.string(),
    }),
  ),
});

export const Manifest = z.strictObject({
  format: z.literal(BUNDLE_FORMAT),
  tool: z.strictObject({ name: z.string(), version: z.string() }),
  createdAt: z.string(),
  range: z.strictObject({ from: z.string(), to: z.string(), field: z.literal('receivedAt') }),
  tenant: z.string().nullable(),
  counts: z.strictObject({
    events: z.number().int(),
    logs: z.number().int(),
    appends: z.number().int(),
    keys: z.number().int(),
  }),
  logs: z.array(z.strictObject({ origin: z.string(), size: z.number().int(), checkpoint: SignedCheckpoint })),
  files: z.array(z.strictObject({ path: z.string(), sha256: HexHash, bytes: z.number().int() })),
});
export type Manifest = z.infer<typeof Manifest>;
