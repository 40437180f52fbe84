import { z } from 'zod';
import { canonicalize } from './canonical.ts';
import { CheckpointFormatError, parseCheckpointBody, SignedCheckpoint } from './checkpoint.ts';
import { equalHashes, fromHex, leafHash, toHex, verifyInclusion } from './merkle.ts';
import { type PublicKeyInfo, verifyCheckpointSignature } from './signer.ts';

const HexHash = z.string().regex(/^[0-9a-f]{64}$/, 'must be a 64-digit lowercase hex SHA-256 hash');

/** The signed receipt returned for every accepted event (DESIGN.md). */
export const Receipt = z.strictObject({
  version: z.literal(1),
  eventId: z.string().min(1),
  origin: z.string().min(1),
  leafIndex: z.number().int().nonnegative(),
  leafHash: HexHash,
  inclusionProof: z.array(HexHash).max(64),
  checkpoint: SignedCheckpoint,
});
export type Receipt = z.infer<typeof Receipt>;

export function buildReceipt(args: {
  eventId: string;
  origin: string;
  leafIndex: number;
  leafHash: Uint8Array;
  inclusionProof: readonly Uint8Array[];
  checkpoint: SignedCheckpoint;
}): Receipt {
  return {
    version: 1,
    eventId: args.eventId,
    origin: args.origin,
    leafIndex: args.leafIndex,
    leafHash: toHex(args.leafHash),
    inclusionProof: args.inclusionProof.map(toHex),
    checkpoint: args.checkpoint,
  };
}

export type ReceiptCheck = { ok: true } | { ok: false; check: ReceiptCheckName; reason: string };
export type ReceiptCheckName = 'format' | 'event-id' | 'leaf-hash' | 'checkpoint' | 'inclusion' | 'signature';

const fail = (check: ReceiptCheckName, reason: string): ReceiptCheck => ({ ok: false, check, reason });

/**
 * Verifies one event against its receipt with nothing but public keys: the record's canonical bytes hash to
 * the leaf, the leaf is in the checkpoint's tree at its index, and the checkpoint is signed by a known key.
 * `record` is the stored record as JSON text or as a parsed object (it is re-canonicalized either way).
 */
export function verifyReceipt(
  record: string | Record<string, unknown>,
  receiptInput: unknown,
  keys: ReadonlyMap<string, PublicKeyInfo>,
): ReceiptCheck {
  const parsed = Receipt.safeParse(receiptInput);
  if (!parsed.success)
    return fail('format', `receipt is malformed: ${parsed.error.issues[0]?.message ?? 'unknown'}`);
  const receipt = parsed.data;
  let recordObject: Record<string, unknown>;
  try {
    recordObject = typeof record === 'string' ? JSON.parse(record) : record;
  } catch {
    return fail('format', 'record is not JSON');
  }
  if (typeof recordObject !== 'object' || recordObject === null || Array.isArray(recordObject)) {
    return fail('format', 'record is not a JSON object');
  }
  if (recordObject.id !== receipt.eventId) {
    return fail(
      'event-id',
      `record id ${String(recordObject.id)} is not the receipt's event ${receipt.eventId}`,
    );
  }
  let canonical: string;
  try {
    canonical = canonicalize(recordObject);
  } catch (error) {
    return fail('format', `record has no canonical form: ${(error as Error).message}`);
  }
  const leaf = leafHash(new TextEncoder().encode(canonical));
  if (!equalHashes(leaf, fromHex(receipt.leafHash))) {
    return fail('leaf-hash', `record hashes to ${toHex(leaf)}, receipt says ${receipt.leafHash}`);
  }
  let checkpoint: ReturnType<typeof parseCheckpointBody>;
  try {
    checkpoint = parseCheckpointBody(receipt.checkpoint.body);
  } catch (error) {
    return fail('checkpoint', error instanceof CheckpointFormatError ? error.message : String(error));
  }
  if (checkpoint.origin !== receipt.origin) {
    return fail('checkpoint', `checkpoint is for log ${checkpoint.origin}, receipt names ${receipt.origin}`);
  }
  const proof = receipt.inclusionProof.map(fromHex);
  if (!verifyInclusion(leaf, receipt.leafIndex, checkpoint.size, proof, checkpoint.rootHash)) {
    return fail(
      'inclusion',
      `inclusion proof of leaf ${receipt.leafIndex} does not reach the root of size ${checkpoint.size}`,
    );
  }
  const signature = verifyCheckpointSignature(receipt.checkpoint, keys);
  return signature.ok ? { ok: true } : fail('signature', signature.reason);
}
