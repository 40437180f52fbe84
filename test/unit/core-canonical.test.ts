import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CanonicalizationError, canonicalBytes, canonicalize, isWellFormed } from '#core/canonical.ts';

/** A double from its IEEE-754 bit pattern, as RFC 8785 Appendix B lists its samples. */
const fromBits = (hex: string) => {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt(`0x${hex}`));
  return view.getFloat64(0);
};

describe('canonicalize (RFC 8785 JCS)', () => {
  it('sorts object keys by UTF-16 code units (RFC 8785 §3.2.3 example)', () => {
    const input = JSON.parse(
      '{"\\u20ac":"Euro Sign","\\r":"Carriage Return","\\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One",' +
        '"\\ud83d\\ude00":"Emoji: Grinning Face","\\u0080":"Control","\\u00f6":"Latin Small Letter O With Diaeresis"}',
    );
    expect(canonicalize(input)).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",' +
        '"\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });

  it('serializes numbers, strings and literals as RFC 8785 §3.2.2 shows', () => {
    const input = JSON.parse(String.raw`{
      "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
      "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
      "literals": [null, true, false]
    }`);
    expect(canonicalize(input)).toBe(
      String.raw`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`,
    );
  });

  it('encodes the §3.2.2 example as the exact UTF-8 bytes of the RFC', () => {
    const bytes = canonicalBytes({ string: '\u20ac$\u000f\nA' });
    expect(Buffer.from(bytes).toString('hex')).toBe(
      Buffer.from('{"string":"', 'latin1').toString('hex') +
        'e282ac' +
        Buffer.from('$\\u000f\\nA"}', 'latin1').toString('hex'),
    );
  });

  // RFC 8785 Appendix B: IEEE-754 bit pattern -> expected JSON text.
  const NUMBER_SAMPLES: [string, string][] = [
    ['0000000000000000', '0'],
    ['8000000000000000', '0'], // minus zero
    ['0000000000000001', '5e-324'],
    ['8000000000000001', '-5e-324'],
    ['7fefffffffffffff', '1.7976931348623157e+308'],
    ['ffefffffffffffff', '-1.7976931348623157e+308'],
    ['4340000000000000', '9007199254740992'],
    ['c340000000000000', '-9007199254740992'],
    ['4430000000000000', '295147905179352830000'],
    ['44b52d02c7e14af5', '9.999999999999997e+22'],
    ['44b52d02c7e14af6', '1e+23'],
    ['44b52d02c7e14af7', '1.0000000000000001e+23'],
    ['444b1ae4d6e2ef4e', '999999999999999700000'],
    ['444b1ae4d6e2ef4f', '999999999999999900000'],
    ['444b1ae4d6e2ef50', '1e+21'],
    ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
    ['3eb0c6f7a0b5ed8d', '0.000001'],
    ['41b3de4355555553', '333333333.3333332'],
    ['41b3de4355555554', '333333333.33333325'],
    ['41b3de4355555555', '333333333.3333333'],
    ['41b3de4355555556', '333333333.3333334'],
    ['41b3de4355555557', '333333333.33333343'],
    ['becbf647612f3696', '-0.0000033333333333333333'],
    ['43143ff3c1cb0959', '1424953923781206.2'],
  ];

  it.each(NUMBER_SAMPLES)(
    'serializes the double with bits %s as %s (RFC 8785 Appendix B)',
    (bits, expected) => {
      expect(canonicalize(fromBits(bits))).toBe(expected);
    },
  );

  it.each([
    [1e21, '1e+21'],
    [1e20, '100000000000000000000'],
    [1e-7, '1e-7'],
    [1e-6, '0.000001'],
    [-0, '0'],
    [0.1 + 0.2, '0.30000000000000004'],
  ])('serializes %s as %s', (value, expected) => {
    expect(canonicalize(value)).toBe(expected);
    expect(canonicalize([value])).toBe(`[${expected}]`);
  });

  it.each([
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
  ])('rejects %s with the path of the value', (_name, value) => {
    expect(() => canonicalize({ a: [1, value] })).toThrow(CanonicalizationError);
    expect(() => canonicalize({ a: [1, value] })).toThrow('$.a[1]');
  });

  it.each([
    ['a lone high surrogate in a value', { k: 'x\ud800' }],
    ['a lone low surrogate in a value', { k: '\udc00y' }],
    ['a reversed pair in a value', { k: '\ude00\ud83d' }],
    ['a lone surrogate in a key', { '\ud800': 1 }],
    ['a lone surrogate inside an array', [['\udfff']]],
  ])('rejects %s', (_name, value) => {
    expect(() => canonicalize(value)).toThrow(CanonicalizationError);
  });

  it('accepts a surrogate pair and keeps it as raw UTF-8 (no escaping above U+001F)', () => {
    expect(canonicalize('\ud83d\ude00')).toBe('"\ud83d\ude00"');
    expect(Buffer.from(canonicalBytes('\ud83d\ude00')).toString('hex')).toBe('22f09f988022');
  });

  it('escapes control characters with the short forms where JSON has them, else \\u00xx in lowercase', () => {
    expect(canonicalize('\b\t\n\f\r\u0000\u001f\u007f')).toBe('"\\b\\t\\n\\f\\r\\u0000\\u001f\u007f"');
  });

  it('drops object members whose value is undefined, as JSON.stringify does', () => {
    expect(canonicalize({ b: 1, a: undefined })).toBe('{"b":1}');
  });

  it.each([
    ['a bigint', 1n],
    ['a function', () => 1],
    ['a symbol', Symbol('s')],
    ['undefined at the top level', undefined],
    ['undefined inside an array', [undefined]],
  ])('rejects %s, which has no JSON form', (_name, value) => {
    expect(() => canonicalize(value)).toThrow(CanonicalizationError);
  });

  it('sorts nested objects and leaves array order alone', () => {
    expect(canonicalize({ z: [{ b: 2, a: 1 }, 3], a: { d: null, c: true } })).toBe(
      '{"a":{"c":true,"d":null},"z":[{"a":1,"b":2},3]}',
    );
  });

  it('reports well-formed UTF-16 strings', () => {
    expect(isWellFormed('plain \ud83d\ude00')).toBe(true);
    expect(isWellFormed('\ud83d')).toBe(false);
    expect(isWellFormed('\ude00')).toBe(false);
    expect(isWellFormed('\ud83d\ud83d\ude00')).toBe(false);
  });

  const jsonValue = fc.jsonValue({ maxDepth: 4 });

  it('is idempotent: canonicalize(JSON.parse(canonicalize(x))) === canonicalize(x) for any JSON value', () => {
    fc.assert(
      fc.property(jsonValue, (value) => {
        const once = canonicalize(value);
        expect(canonicalize(JSON.parse(once))).toBe(once);
      }),
      { seed: 8785, numRuns: 2000 },
    );
  });

  it('is independent of key insertion order and of whitespace in the source text', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 8 }), (object) => {
        const reversed = Object.fromEntries(Object.entries(object).reverse());
        expect(canonicalize(reversed)).toBe(canonicalize(object));
        expect(canonicalize(JSON.parse(JSON.stringify(object, null, 2)))).toBe(canonicalize(object));
      }),
      { seed: 3223, numRuns: 1000 },
    );
  });

  it('produces text that JSON.parse reads back to the value JSON.stringify would give', () => {
    fc.assert(
      fc.property(jsonValue, (value) => {
        // JSON.stringify is the reference for everything but key order (it also writes -0 as 0).
        expect(JSON.parse(canonicalize(value))).toEqual(JSON.parse(JSON.stringify(value)));
      }),
      { seed: 6962, numRuns: 1000 },
    );
  });
});
