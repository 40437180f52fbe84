import type { AttributeValue, DynamoDBRecord } from 'aws-lambda';
import { eventChange, type LedgerChange } from '#core/archiving.ts';
import { SigningAlgorithm } from '#core/checkpoint.ts';
import { KEYS_PARTITION } from '#core/ledger-layout.ts';
import type { AppendRecord, StoredEvent } from '#core/ports.ts';
import type { PublicKeyInfo } from '#core/signer.ts';

/**
 * Stream records of the ledger table, as Lambda delivers them (JSON: binaries are base64 strings), turned
 * into domain values. The item codecs live with the DynamoDB adapter (`appendFromItem`, `eventFromItem`)
 * and are injected, so this module stays free of the AWS SDK like `lambdas/http/`.
 */

/** An attribute value with binaries as bytes: the shape the SDK (and the item codecs) use. */
export type ItemValue =
  | { S: string }
  | { N: string }
  | { B: Uint8Array }
  | { BOOL: boolean }
  | { NULL: boolean }
  | { SS: string[] }
  | { NS: string[] }
  | { BS: Uint8Array[] }
  | { L: ItemValue[] }
  | { M: Record<string, ItemValue> };
export type Item = Record<string, ItemValue>;

/** The DynamoDB adapter's item codecs (`#adapters/dynamo-ledger-store.ts`). */
export interface LedgerItemCodec {
  eventFromItem(item: Item): StoredEvent;
  appendFromItem(item: Item): AppendRecord;
}

/** A record that will never process however often it is retried: it must end in the on-failure destination. */
export class PoisonRecordError extends Error {
  override readonly name = 'PoisonRecordError';
}

/** Binaries arrive base64-encoded from Lambda; already-decoded bytes (SDK records) pass through. */
const bytes = (value: string | Uint8Array): Uint8Array =>
  typeof value === 'string' ? new Uint8Array(Buffer.from(value, 'base64')) : value;

export function toItemValue(value: AttributeValue | ItemValue): ItemValue {
  const v = value as Record<string, unknown>;
  if (v.B !== undefined) return { B: bytes(v.B as string | Uint8Array) };
  if (v.BS !== undefined) return { BS: (v.BS as (string | Uint8Array)[]).map(bytes) };
  if (v.L !== undefined) return { L: (v.L as AttributeValue[]).map(toItemValue) };
  if (v.M !== undefined) return { M: toItem(v.M as Record<string, AttributeValue>) };
  return value as ItemValue;
}

export const toItem = (image: Record<string, AttributeValue | ItemValue>): Item =>
  Object.fromEntries(Object.entries(image).map(([name, value]) => [name, toItemValue(value)]));

type ItemKind = 'event' | 'append' | 'key';

/** Which ledger item an INSERT created, or why the record is of no interest to the stream consumers. */
function classify(
  record: DynamoDBRecord,
): { kind: ItemKind; item: Item; name: string } | { kind: 'ignored'; reason: string } {
  if (record.eventName !== 'INSERT')
    return { kind: 'ignored', reason: `${record.eventName ?? 'unknown'} event` };
  const image = record.dynamodb?.NewImage;
  const keys = record.dynamodb?.Keys;
  const pk = image?.pk?.S ?? keys?.pk?.S;
  const sk = image?.sk?.S ?? keys?.sk?.S;
  const name = `${pk ?? '?'}/${sk ?? '?'}`;
  const kind: ItemKind | undefined = pk?.startsWith('EVENT#')
    ? 'event'
    : pk?.startsWith('LOG#') && sk?.startsWith('APPEND#')
      ? 'append'
      : pk === KEYS_PARTITION
        ? 'key'
        : undefined;
  if (kind === undefined)
    return { kind: 'ignored', reason: `not a ledger item kind the consumers use (${name})` };
  // KEYS_ONLY or OLD_IMAGE streams cannot be archived from: fail loudly rather than skip.
  if (!image)
    throw new PoisonRecordError(`INSERT of ${name} has no NewImage: the stream view must be NEW_IMAGE`);
  try {
    return { kind, item: toItem(image), name };
  } catch (error) {
    throw new PoisonRecordError(`ledger item ${name} has malformed attributes`, { cause: error });
  }
}

function decodeWith<T>(name: string, decode: () => T): T {
  try {
    return decode();
  } catch (error) {
    throw new PoisonRecordError(`ledger item ${name} cannot be decoded: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/**
 * What the archiver keeps of one stream record: INSERTs of event, append and key items. Everything else
 * (MODIFY from setting the TTL, REMOVE from TTL expiry, other item kinds) is ignored. Throws
 * PoisonRecordError for a ledger item that cannot be decoded.
 */
export function decodeLedgerChange(
  record: DynamoDBRecord,
  codec: LedgerItemCodec,
): LedgerChange | { kind: 'ignored'; reason: string } {
  const classified = classify(record);
  if (classified.kind === 'ignored') return classified;
  const { kind, item, name } = classified;
  return decodeWith(name, (): LedgerChange => {
    if (kind === 'event') return eventChange(codec.eventFromItem(item));
    if (kind === 'append') return { kind: 'append', append: codec.appendFromItem(item) };
    return { kind: 'key', key: keyFromItem(item) };
  });
}

/** The stored event an INSERT created, or undefined for any other record (the alerter's view). */
export function decodeInsertedEvent(record: DynamoDBRecord, codec: LedgerItemCodec): StoredEvent | undefined {
  const classified = classify(record);
  if (classified.kind !== 'event') return undefined;
  return decodeWith(classified.name, () => codec.eventFromItem(classified.item));
}

function keyFromItem(item: Item): PublicKeyInfo {
  const text = (name: string) => {
    const value = (item[name] as { S?: string } | undefined)?.S;
    if (!value) throw new Error(`key item has no ${name}`);
    return value;
  };
  return {
    keyId: text('keyId'),
    algorithm: SigningAlgorithm.parse(text('algorithm')),
    publicKeyPem: text('publicKeyPem'),
  };
}
