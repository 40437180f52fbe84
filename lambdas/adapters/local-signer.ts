import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
} from 'node:crypto';
import type { SigningAlgorithm } from '#core/checkpoint.ts';
import type { PublicKeyInfo, Signature, Signer } from '#core/signer.ts';

/**
 * A P-256 (or RSA) key held in process, behind the same port as KMS. Used by the sandbox and tests so that
 * every signature is real and verifies with the production verifier.
 */
export class LocalSigner implements Signer {
  readonly keyId: string;
  readonly algorithm: SigningAlgorithm;
  private readonly publicKeyPem: string;

  constructor(private readonly privateKey: KeyObject) {
    const publicKey = createPublicKey(privateKey);
    this.algorithm = privateKey.asymmetricKeyType === 'rsa' ? 'RSASSA_PKCS1_V1_5_SHA_256' : 'ECDSA_SHA_256';
    if (
      privateKey.asymmetricKeyType === 'ec' &&
      privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1'
    ) {
      throw new Error(`local signing key must be P-256, got ${privateKey.asymmetricKeyDetails?.namedCurve}`);
    }
    this.publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const fingerprint = createHash('sha256')
      .update(publicKey.export({ type: 'spki', format: 'der' }))
      .digest('hex');
    this.keyId = `local:${this.algorithm === 'ECDSA_SHA_256' ? 'p256' : 'rsa'}:${fingerprint.slice(0, 32)}`;
  }

  static fromPem(pem: string): LocalSigner {
    return new LocalSigner(createPrivateKey(pem));
  }

  static generate(kind: 'p256' | 'rsa2048' = 'p256'): LocalSigner {
    const { privateKey } =
      kind === 'p256'
        ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
        : generateKeyPairSync('rsa', { modulusLength: 2048 });
    return new LocalSigner(privateKey);
  }

  privateKeyPem(): string {
    return this.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  }

  async sign(message: Uint8Array): Promise<Signature> {
    const signature =
      this.algorithm === 'ECDSA_SHA_256'
        ? sign('sha256', message, { key: this.privateKey, dsaEncoding: 'der' })
        : sign('sha256', message, this.privateKey);
    return { keyId: this.keyId, algorithm: this.algorithm, signature: new Uint8Array(signature) };
  }

  async publicKey(keyId?: string): Promise<PublicKeyInfo> {
    if (keyId !== undefined && keyId !== this.keyId)
      throw new Error(`local signer holds ${this.keyId}, not ${keyId}`);
    return { keyId: this.keyId, algorithm: this.algorithm, publicKeyPem: this.publicKeyPem };
  }
}
