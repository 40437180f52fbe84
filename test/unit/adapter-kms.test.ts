import 'aws-sdk-client-mock-vitest/extend';
import { createPublicKey } from 'node:crypto';
import { GetPublicKeyCommand, KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { derToPem, KmsSigner } from '#adapters/kms-signer.ts';
import { formatCheckpointBody } from '#core/checkpoint.ts';
import { leafHash } from '#core/merkle.ts';
import { keyMap, signCheckpoint, verifyCheckpointSignature } from '#core/signer.ts';
import { fakeKmsKey, mockKms } from '../support/fake-kms.ts';

const ACCOUNT = '123456789012';
const ecKey = fakeKmsKey({
  keyArn: `arn:aws:kms:eu-west-1:${ACCOUNT}:key/ec`,
  aliases: ['alias/checkpoints'],
});
const rsaKey = fakeKmsKey({
  keyArn: `arn:aws:kms:eu-west-1:${ACCOUNT}:key/rsa`,
  aliases: ['alias/rsa'],
  algorithm: 'RSASSA_PKCS1_V1_5_SHA_256',
});
const kms = mockKms([ecKey, rsaKey]);
afterAll(() => kms.restore());
beforeEach(() => kms.resetHistory());

const client = new KMSClient({ region: 'eu-west-1' });
const body = formatCheckpointBody({
  origin: 'audit.example.com/acme/0',
  size: 1,
  rootHash: leafHash(new Uint8Array()),
});

describe('KmsSigner', () => {
  it.each([
    ['ECC_NIST_P256 / ECDSA_SHA_256', ecKey, 'alias/checkpoints'],
    ['RSA_2048 / RSASSA_PKCS1_V1_5_SHA_256', rsaKey, 'alias/rsa'],
  ] as const)(
    'signs through an alias with %s; the checkpoint names the key ARN and verifies with its PEM',
    async (_name, key, alias) => {
      const signer = new KmsSigner(client, alias, key.algorithm);
      const checkpoint = await signCheckpoint(signer, body);
      expect(checkpoint).toMatchObject({ body, keyId: key.keyArn, algorithm: key.algorithm });
      expect(kms).toHaveReceivedCommandWith(SignCommand, {
        KeyId: alias,
        MessageType: 'RAW',
        SigningAlgorithm: key.algorithm,
      });
      const publicKey = await signer.publicKey(checkpoint.keyId);
      expect(publicKey).toEqual({
        keyId: key.keyArn,
        algorithm: key.algorithm,
        publicKeyPem: key.publicKeyPem,
      });
      expect(verifyCheckpointSignature(checkpoint, keyMap([publicKey]))).toEqual({ ok: true });
    },
  );

  it('fetches each public key once per container', async () => {
    const signer = new KmsSigner(client, 'alias/checkpoints', 'ECDSA_SHA_256');
    await Promise.all([
      signer.publicKey(ecKey.keyArn),
      signer.publicKey(ecKey.keyArn),
      signer.publicKey(ecKey.keyArn),
    ]);
    await signer.publicKey(ecKey.keyArn);
    expect(kms).toHaveReceivedCommandTimes(GetPublicKeyCommand, 1);
  });

  it('rejects a key that does not support the configured algorithm', async () => {
    const signer = new KmsSigner(client, 'alias/rsa', 'ECDSA_SHA_256');
    await expect(signer.publicKey()).rejects.toThrow('does not support ECDSA_SHA_256');
  });

  it('retries a failed public key fetch instead of caching the failure', async () => {
    const signer = new KmsSigner(client, 'alias/missing', 'ECDSA_SHA_256');
    await expect(signer.publicKey()).rejects.toThrow();
    await expect(signer.publicKey()).rejects.toThrow();
    expect(kms).toHaveReceivedCommandTimes(GetPublicKeyCommand, 2);
  });

  it('rejects a Sign response without a signature', async () => {
    kms.on(SignCommand, { KeyId: 'alias/empty' }).resolves({ KeyId: ecKey.keyArn });
    const signer = new KmsSigner(client, 'alias/empty', 'ECDSA_SHA_256');
    await expect(signer.sign(new Uint8Array([1]))).rejects.toThrow('no signature');
  });

  it('writes SPKI DER as a PEM that node:crypto reads back to the same key', () => {
    const pem = derToPem(ecKey.spkiDer);
    expect(pem).toMatch(/^-----BEGIN PUBLIC KEY-----\n([A-Za-z0-9+/=]{1,64}\n)+-----END PUBLIC KEY-----\n$/);
    expect(
      createPublicKey(pem).export({ type: 'spki', format: 'der' }).equals(Buffer.from(ecKey.spkiDer)),
    ).toBe(true);
    expect(createPublicKey(derToPem(rsaKey.spkiDer)).asymmetricKeyType).toBe('rsa');
  });
});
