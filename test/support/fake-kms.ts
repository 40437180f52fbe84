import { createPublicKey, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import {
  GetPublicKeyCommand,
  type GetPublicKeyCommandInput,
  type GetPublicKeyCommandOutput,
  InvalidKeyUsageException,
  KMSClient,
  NotFoundException,
  SignCommand,
  type SignCommandInput,
  type SignCommandOutput,
} from '@aws-sdk/client-kms';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import type { SigningAlgorithm } from '#core/checkpoint.ts';

export interface FakeKmsKey {
  /** The key ARN KMS reports as KeyId in every response. */
  readonly keyArn: string;
  /** Names the caller may use for the key: alias name, alias ARN, key id. */
  readonly aliases: readonly string[];
  readonly algorithm: SigningAlgorithm;
  readonly privateKey: KeyObject;
  /** SubjectPublicKeyInfo DER, what GetPublicKey returns. */
  readonly spkiDer: Uint8Array;
  readonly publicKeyPem: string;
}

export function fakeKmsKey(options: {
  keyArn: string;
  aliases?: string[];
  algorithm?: SigningAlgorithm;
}): FakeKmsKey {
  const algorithm = options.algorithm ?? 'ECDSA_SHA_256';
  const { privateKey } =
    algorithm === 'ECDSA_SHA_256'
      ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
      : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const publicKey = createPublicKey(privateKey);
  return {
    keyArn: options.keyArn,
    aliases: options.aliases ?? [],
    algorithm,
    privateKey,
    spkiDer: new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/**
 * Mocks every KMSClient: Sign really signs the Message (RAW, KMS's 4096-byte limit) with a local key and
 * returns a DER signature as KMS does; GetPublicKey returns the key's SPKI DER. Unknown key ids fail with
 * KMS's NotFoundException.
 */
export function mockKms(keys: readonly FakeKmsKey[]): AwsClientStub<KMSClient> {
  const mock = mockClient(KMSClient);
  const find = (keyId: string | undefined) => {
    const key = keys.find(
      (candidate) => candidate.keyArn === keyId || candidate.aliases.includes(keyId ?? ''),
    );
    if (!key)
      throw new NotFoundException({
        message: `Key '${keyId}' does not exist`,
        $metadata: { httpStatusCode: 400 },
      });
    return key;
  };
  mock.on(SignCommand).callsFake((input: SignCommandInput): SignCommandOutput => {
    const key = find(input.KeyId);
    if (input.MessageType !== 'RAW') throw new Error('fake KMS: only MessageType RAW is emulated');
    if (input.SigningAlgorithm !== key.algorithm) {
      throw new InvalidKeyUsageException({
        message: `key does not support ${input.SigningAlgorithm}`,
        $metadata: {},
      });
    }
    const message = input.Message ?? new Uint8Array();
    if (message.length > 4096) throw new Error('fake KMS: RAW messages are limited to 4096 bytes');
    const signature =
      key.algorithm === 'ECDSA_SHA_256'
        ? sign('sha256', message, { key: key.privateKey, dsaEncoding: 'der' })
        : sign('sha256', message, key.privateKey);
    return {
      $metadata: {},
      KeyId: key.keyArn,
      Signature: new Uint8Array(signature),
      SigningAlgorithm: key.algorithm,
    };
  });
  mock.on(GetPublicKeyCommand).callsFake((input: GetPublicKeyCommandInput): GetPublicKeyCommandOutput => {
    const key = find(input.KeyId);
    return {
      $metadata: {},
      KeyId: key.keyArn,
      PublicKey: key.spkiDer,
      KeySpec: key.algorithm === 'ECDSA_SHA_256' ? 'ECC_NIST_P256' : 'RSA_2048',
      KeyUsage: 'SIGN_VERIFY',
      SigningAlgorithms: [key.algorithm],
    };
  });
  return mock;
}
