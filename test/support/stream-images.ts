import type { AttributeValue as SdkAttributeValue } from '@aws-sdk/client-dynamodb';
import type { AttributeValue } from 'aws-lambda';
import { KEYS_PARTITION } from '#core/ledger-layout.ts';
import type { PublicKeyInfo } from '#core/signer.ts';

/** A table item as the AWS SDK holds it (binaries as bytes). */
export type SdkItem = Record<string, SdkAttributeValue>;

/** An SDK item as Lambda's JSON stream event carries it: binaries base64-encoded. */
export function lambdaImage(item: SdkItem): Record<string, AttributeValue> {
  const convert = (value: SdkAttributeValue): AttributeValue => {
    if (value.B !== undefined) return { B: Buffer.from(value.B).toString('base64') };
    if (value.M !== undefined) return { M: lambdaImage(value.M) };
    if (value.L !== undefined) return { L: value.L.map(convert) };
    return value as AttributeValue;
  };
  return Object.fromEntries(Object.entries(item).map(([name, value]) => [name, convert(value)]));
}

/** The ledger item that registers a signing key's public half. */
export const keyItem = (key: PublicKeyInfo): SdkItem => ({
  pk: { S: KEYS_PARTITION },
  sk: { S: key.keyId },
  keyId: { S: key.keyId },
  algorithm: { S: key.algorithm },
  publicKeyPem: { S: key.publicKeyPem },
  registeredAt: { S: '2026-03-01T10:00:00.000Z' },
});
