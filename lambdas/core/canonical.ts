/**
 * RFC 8785 JSON Canonicalization Scheme (JCS).
 *
 * The canonical bytes of a record are its Merkle leaf, so this must agree with every other JCS
 * implementation byte for byte. ECMAScript's own serialisation is what RFC 8785 specifies for numbers
 * (§3.2.2.3) and strings (§3.2.2.2), so JSON.stringify does those parts; keys are sorted by UTF-16 code
 * units (§3.2.3), which is exactly what the default Array#sort compares.
 */
export class CanonicalizationError extends Error {
  override readonly name = 'CanonicalizationError';
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** True if the string is well-formed UTF-16 (RFC 8785 §3.2.2.2 requires valid Unicode). */
export const isWellFormed = (text: string) => !LONE_SURROGATE.test(text);

export function canonicalize(value: unknown): string {
  return serialize(value, '$');
}

function serialize(value: unknown, path: string): string {
  if (value === null || typeof value === 'boolean') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new CanonicalizationError(`${path}: ${value} is not a JSON number`);
    return JSON.stringify(value);
  }
  if (typeof value === 'string') {
    if (!isWellFormed(value)) throw new CanonicalizationError(`${path}: string has a lone surrogate`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((item, i) => serialize(item, `${path}[${i}]`)).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.keys(value)
      .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
      .sort()
      .map((key) => `${serialize(key, path)}:${serialize((value as Record<string, unknown>)[key], `${path}.${key}`)}`);
    return `{${entries.join(',')}}`;
  }
  throw new CanonicalizationError(`${path}: ${typeof value} has no JSON form`);
}

const encoder = new TextEncoder();

/** The canonical UTF-8 bytes of a value. */
export const canonicalBytes = (value: unknown): Uint8Array => encoder.encode(canonicalize(value));
