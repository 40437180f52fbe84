import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { topLevelIdValue } from '#core/json-scan.ts';
import { compileJsonScan, JSON_SCAN_MODULE } from '../../scripts/build-wasm.ts';

/**
 * The WebAssembly kernel of the record-id scan (json-scan.wat). Its meaning is tested through hasTopLevelId
 * against JSON.parse (core-verify-log.test.ts); here: the committed module is the compiled source, and the
 * 16-byte steps over strings agree with a byte-by-byte reading wherever escapes and quotes fall.
 */
const bytes = (text: string) => Buffer.from(text, 'utf8');

/** The same scan, byte by byte in JavaScript: the reference for the SIMD steps. */
function referenceScan(json: Uint8Array): number {
  let depth = 0;
  let previous = 0;
  for (let at = 0; at < json.length; ) {
    const byte = json[at]!;
    if (byte === 0x22) {
      const open = at;
      at += 1;
      while (at < json.length && json[at] !== 0x22) at += json[at] === 0x5c ? 2 : 1;
      if (at >= json.length) return -1;
      at += 1;
      const key = depth === 1 && (previous === 0x7b || previous === 0x2c);
      if (key && at - open === 4 && json[open + 1] === 0x69 && json[open + 2] === 0x64)
        return at < json.length && json[at] === 0x3a ? at + 1 : -1;
      previous = 0x22;
      continue;
    }
    if (byte === 0x7b || byte === 0x5b) depth += 1;
    else if (byte === 0x7d || byte === 0x5d) depth -= 1;
    previous = byte;
    at += 1;
  }
  return -1;
}

describe('json-scan kernel', () => {
  it('is the module compiled from json-scan.wat (run `npm run wasm` after editing it)', async () => {
    expect(readFileSync(JSON_SCAN_MODULE, 'utf8')).toBe(await compileJsonScan());
  });

  it('finds the value of the outermost id, past strings of every length with escapes anywhere', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: fc.constantFrom('a', '"', '\\', '{', '}', 'é', '\n'), maxLength: 70 }), {
          maxLength: 6,
        }),
        fc.boolean(),
        (values, nested) => {
          const members = values.map((value, i) => `"k${i}":${JSON.stringify(value)}`);
          const id = nested ? '"x":{"id":"inner"}' : '"id":"outer"';
          const json = bytes(`{${[...members, id, ...members].join(',')}}`);
          const expected = referenceScan(json);
          expect(topLevelIdValue(json)).toBe(expected);
          if (!nested) expect(json.subarray(expected, expected + 7).toString()).toBe('"outer"');
          else expect(expected).toBe(-1);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('agrees with the byte-by-byte reading on arbitrary bytes, including truncated strings', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 120 }),
        fc.constantFrom('{"id":', '{"a":"', '{"b":{"id":'),
        (tail, head) => {
          const json = Buffer.concat([bytes(head), tail]);
          expect(topLevelIdValue(json)).toBe(referenceScan(json));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('grows its memory for a record larger than one page, and still reads short ones after it', () => {
    const large = bytes(`{"a":"${'x'.repeat(200_000)}","id":"large"}`);
    expect(large.subarray(topLevelIdValue(large)).toString()).toBe('"large"}');
    const small = bytes('{"id":"small"}');
    expect(topLevelIdValue(small)).toBe(6);
  });
});
