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

/** True if the string is well-formed UTF-16 (RFC 8785 §3.2.2.2 requires valid Unicode). */
export const isWellFormed = (text: string) => text.isWellFormed();

/** Canonical JSON text of a value (RFC 8785). Throws CanonicalizationError naming the offending path. */
export function canonicalize(value: unknown): string {
  try {
    return serialize(value);
  } catch (error) {
    if (error instanceof CanonicalizationError)
      throw new CanonicalizationError(`${findProblemPath(value, '$')}: ${error.message}`);
    throw error;
  }
}

// The hot path: records are canonicalized once per event on ingest and once per event on verification,
// so it builds no paths and no intermediate arrays; paths are recovered only when something fails.
function serialize(value: unknown): string {
  switch (typeof value) {
    case 'string':
      if (!value.isWellFormed()) throw new CanonicalizationError('string has a lone surrogate');
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new CanonicalizationError(`${value} is not a JSON number`);
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + serialize(value[i]);
        return `${out}]`;
      }
      const object = value as Record<string, unknown>;
      const keys = Object.keys(object).sort();
      let out = '{';
      let first = true;
      for (const key of keys) {
        const item = object[key];
        if (item === undefined) continue;
        out += `${first ? '' : ','}${serialize(key)}:${serialize(item)}`;
        first = false;
      }
      return `${out}}`;
    }
    default:
      throw new CanonicalizationError(`${typeof value} has no JSON form`);
  }
}

/** The JSONPath-like location of the first value that cannot be canonicalized. */
function findProblemPath(value: unknown, path: string): string {
  if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      if (!key.isWellFormed()) return path;
      const inner = findProblemPath(item, Array.isArray(value) ? `${path}[${key}]` : `${path}.${key}`);
      if (inner !== '') return inner;
    }
    return '';
  }
  try {
    serialize(value);
    return '';
  } catch {
    return path;
  }
}

const encoder = new TextEncoder();

/** The canonical UTF-8 bytes of a value. */
export const canonicalBytes = (value: unknown): Uint8Array => encoder.encode(canonicalize(value));
