import { GetPublicKeyCommand, type KMSClient, SignCommand } from '@aws-sdk/client-kms';
import type { SigningAlgorithm } from '#core/checkpoint.ts';
import type { PublicKeyInfo, Signature, Signer } from '#core/signer.ts';

/**
 * Signs checkpoint bodies with an asymmetric KMS key. MessageType RAW: KMS hashes the body itself, so the
 * DER signature verifies with any plain ECDSA/RSA verifier over the body bytes.
 */
export class KmsSigner implements Signer {
  private readonly publicKeys = new Map<string, Promise<PublicKeyInfo>>();

  constructor(
    private readonly client: KMSClient,
    /** Key id, key ARN, alias name or alias ARN. Signing through an alias lets the key rotate. */
    private readonly keyId: string,
    private readonly algorithm: SigningAlgorithm,
  ) {}

  async sign(message: Uint8Array): Promise<Signature> {
    const response = await this.client.send(
      new SignCommand({
        KeyId: this.keyId,
        Message: message,
        MessageType: 'RAW',
        SigningAlgorithm: this.algorithm,
      }),
    );
    if (!response.Signature || !response.KeyId) throw new Error('KMS Sign returned no signature');
    return { keyId: response.KeyId, algorithm: this.algorithm, signature: response.Signature };
  }

  /** Public keys never change for a key id, so each is fetched once per container. */
  publicKey(keyId: string = this.keyId): Promise<PublicKeyInfo> {
    let cached = this.publicKeys.get(keyId);
    if (!cached) {
      cached = this.fetchPublicKey(keyId);
      cached.catch(() => this.publicKeys.delete(keyId));
      this.publicKeys.set(keyId, cached);
    }
    return cached;
  }

  private async fetchPublicKey(keyId: string): Promise<PublicKeyInfo> {
    const response = await this.client.send(new GetPublicKeyCommand({ KeyId: keyId }));
    if (!response.PublicKey || !response.KeyId)
      throw new Error(`KMS GetPublicKey returned no key for ${keyId}`);
    if (!response.SigningAlgorithms?.includes(this.algorithm)) {
      throw new Error(`KMS key ${response.KeyId} does not support ${this.algorithm}`);
    }
    return { keyId: response.KeyId, algorithm: this.algorithm, publicKeyPem: derToPem(response.PublicKey) };
  }
}

/** SubjectPublicKeyInfo DER (what KMS returns) to PEM. */
export function derToPem(der: Uint8Array): string {
  const base64 = Buffer.from(der).toString('base64');
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN PUBLIC KEY-----\n${lines.join('\n')}\n-----END PUBLIC KEY-----\n`;
}
