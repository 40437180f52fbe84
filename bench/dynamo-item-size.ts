import type { AttributeValue } from '@aws-sdk/client-dynamodb';

/**
 * DynamoDB item size as billing counts it: attribute name bytes plus value bytes (strings UTF-8, binary
 * raw, numbers ~1 byte per 2 significant digits + 1, lists/maps 3 bytes + 1 per element).
 */
export function itemSizeBytes(item: Record<string, AttributeValue>): number {
  return Object.entries(item).reduce(
    (sum, [name, value]) => sum + Buffer.byteLength(name) + valueSize(value),
    0,
  );
}

function valueSize(value: AttributeValue): number {
  if (value.S !== undefined) return Buffer.byteLength(value.S);
  if (value.B !== undefined) return value.B.length;
  if (value.N !== undefined) return Math.ceil(value.N.replace(/^-|\.|^0+/g, '').length / 2) + 1;
  if (value.BOOL !== undefined || value.NULL !== undefined) return 1;
  if (value.L !== undefined) return 3 + value.L.reduce((sum, item) => sum + 1 + valueSize(item), 0);
  if (value.M !== undefined) return 3 + itemSizeBytes(value.M) + Object.keys(value.M).length;
  return 0;
}

/** Write units for a standard write; transactional writes cost twice this. */
export const writeUnits = (item: Record<string, AttributeValue>) =>
  Math.max(1, Math.ceil(itemSizeBytes(item) / 1024));
