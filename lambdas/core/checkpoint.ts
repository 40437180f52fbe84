import { z } from 'zod';
import { fromHex, type Hash, toBase64 } from './merkle.ts';

/**
 * C2SP tlog-checkpoint bodies: exactly `<origin>\n<size>\n<base64 root hash>\n`. The signature is over these
 * bytes and travels beside them (DESIGN.md), so any ECDSA or RSA verifier can check it.
 */
export const SigningAlgorithm = z.enum(['ECDSA_SHA_256', 'RSASSA_PKCS1_V1_5_SHA_256']);
export type SigningAlgorithm = z.infer<typeof SigningAlgorithm>;

export const SignedCheckpoint = z.strictObject({
  body: z.string().min(1).max(1024),
  keyId: z.string().min(1).max(2048),
  algorithm: SigningAlgorithm,
  signature: z.base64().min(1),
});
export type SignedCheckpoint = z.infer<typeof SignedCheckpoint>;

export interface Checkpoint {
  readonly origin: string;
  readonly size: number;
  readonly rootHash: Hash;
}

export class CheckpointFormatError extends Error {
  override readonly name = 'CheckpointFormatError';
}

/** Origins are single-line, printable and contain no spaces (C2SP tlog-checkpoint). */
export const ORIGIN_PATTERN = /^[\x21-\x7e]{1,256}$/;

export function formatCheckpointBody({ origin, size, rootHash }: Checkpoint): string {
  if (!ORIGIN_PATTERN.test(origin))
    throw new CheckpointFormatError(`origin ${JSON.stringify(origin)} is not a valid log origin`);
  if (!Number.isSafeInteger(size) || size < 0)
    throw new CheckpointFormatError(`size ${size} is not a whole number`);
  if (rootHash.length !== 32)
    throw new CheckpointFormatError(`root hash must be 32 bytes, got ${rootHash.length}`);
  return `${origin}\n${size}\n${toBase64(rootHash)}\n`;
}

const BODY = /^([\x21-\x7e]{1,256})\n(0|[1-9][0-9]{0,15})\n([A-Za-z0-9+/]{43}=)\n$/;

/** Parses a checkpoint body, accepting only the exact canonical form (no extension lines). */
export function parseCheckpointBody(body: string): Checkpoint {
  const match = BODY.exec(body);
  if (!match)
    throw new CheckpointFormatError('checkpoint body is not `<origin>\\n<size>\\n<base64 root>\\n`');
  const size = Number(match[2]);
  if (!Number.isSafeInteger(size))
    throw new CheckpointFormatError(`checkpoint size ${match[2]} is too large`);
  const rootHash = new Uint8Array(Buffer.from(match[3]!, 'base64'));
  if (rootHash.length !== 32) throw new CheckpointFormatError('checkpoint root hash is not 32 bytes');
  // Base64 of 32 bytes leaves 2 spare bits in the last digit; decoders ignore them, so insist they are zero.
  if (toBase64(rootHash) !== match[3]) {
    throw new CheckpointFormatError('checkpoint root hash is not canonical base64');
  }
  return { origin: match[1]!, size, rootHash };
}

export const rootHashHex = (checkpoint: Checkpoint) => Buffer.from(checkpoint.rootHash).toString('hex');
export { fromHex };
