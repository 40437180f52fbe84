import { constants, createPublicKey, type KeyObject, verify } from 'node:crypto';
import type { SignedCheckpoint, SigningAlgorithm } from './checkpoint.ts';

/** What a signature needs to be checked later: which key made it, how, and that key's public half. */
export interface PublicKeyInfo {
  readonly keyId: string;
  readonly algorithm: SigningAlgorithm;
  readonly publicKeyPem: string;
}

export interface Signature {
  /** The key that actually signed (for KMS, the key ARN behind the alias at signing time). */
  readonly keyId: string;
  readonly algorithm: SigningAlgorithm;
  /** DER-encoded ECDSA signature, or the PKCS#1 v1.5 signature for RSA. */
  readonly signature: Uint8Array;
}

/** Port: signs checkpoint bodies. KMS in AWS; a local P-256 key in the sandbox and tests. */
export interface Signer {
  sign(message: Uint8Array): Promise<Signature>;
  /** The public key of `keyId` (a key this signer has signed with), or of the key that signs now. */
  publicKey(keyId?: string): Promise<PublicKeyInfo>;
}

export class SignatureVerificationError extends Error {
  override readonly name = 'SignatureVerificationError';
}

const parsedKeys = new Map<string, KeyObject>();

/** Parses a PEM once: a trail has one signature per checkpoint and only a handful of keys. */
function publicKeyObject(publicKeyPem: string): KeyObject {
  let key = parsedKeys.get(publicKeyPem);
  if (!key) {
    key = createPublicKey(publicKeyPem);
    if (parsedKeys.size >= 64) parsedKeys.clear();
    parsedKeys.set(publicKeyPem, key);
  }
  return key;
}

/** Verifies a signature with nothing but the PEM public key, as an outside auditor would. */
export function verifySignature(
  publicKeyPem: string,
  algorithm: SigningAlgorithm,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  let key: KeyObject;
  try {
    key = publicKeyObject(publicKeyPem);
  } catch {
    // A malformed public key verifies nothing; it is not a crash of the verifier.
    return false;
  }
  try {
    if (algorithm === 'ECDSA_SHA_256') {
      if (key.asymmetricKeyType !== 'ec') return false;
      return verify('sha256', message, { key, dsaEncoding: 'der' }, signature);
    }
    if (key.asymmetricKeyType !== 'rsa') return false;
    return verify('sha256', message, { key, padding: constants.RSA_PKCS1_PADDING }, signature);
  } catch {
    // Malformed DER or a wrong-length signature is a failed verification, not a crash.
    return false;
  }
}

/** Checks a signed checkpoint against a set of known public keys (by keyId). */
export function verifyCheckpointSignature(
  checkpoint: SignedCheckpoint,
  keys: ReadonlyMap<string, PublicKeyInfo>,
): { ok: true } | { ok: false; reason: string } {
  const key = keys.get(checkpoint.keyId);
  if (!key) return { ok: false, reason: `no public key for keyId ${checkpoint.keyId}` };
  if (key.algorithm !== checkpoint.algorithm) {
    return {
      ok: false,
      reason: `key ${checkpoint.keyId} signs with ${key.algorithm}, checkpoint says ${checkpoint.algorithm}`,
    };
  }
  const valid = verifySignature(
    key.publicKeyPem,
    checkpoint.algorithm,
    new TextEncoder().encode(checkpoint.body),
    Buffer.from(checkpoint.signature, 'base64'),
  );
  return valid
    ? { ok: true }
    : { ok: false, reason: `signature does not verify with key ${checkpoint.keyId}` };
}

/** Signs a checkpoint body through the port. */
export async function signCheckpoint(signer: Signer, body: string): Promise<SignedCheckpoint> {
  const { keyId, algorithm, signature } = await signer.sign(new TextEncoder().encode(body));
  return { body, keyId, algorithm, signature: Buffer.from(signature).toString('base64') };
}

export const keyMap = (keys: readonly PublicKeyInfo[]) => new Map(keys.map((key) => [key.keyId, key]));
