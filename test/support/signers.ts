import type { PublicKeyInfo, Signature, Signer } from '#core/signer.ts';

/** Wraps a signer and counts its calls, so tests can hold the "one signature per request" line. */
export class CountingSigner implements Signer {
  signs = 0;
  publicKeyLookups = 0;

  constructor(private readonly inner: Signer) {}

  async sign(message: Uint8Array): Promise<Signature> {
    this.signs++;
    return this.inner.sign(message);
  }

  async publicKey(keyId?: string): Promise<PublicKeyInfo> {
    this.publicKeyLookups++;
    return this.inner.publicKey(keyId);
  }
}
