import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { escapeText, safe, safeJson } from '../../cli/escape.ts';

/** Characters that must never reach a terminal raw from stored content. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters under test.
const TERMINAL_ACTIVE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/;

describe('escapeText', () => {
  it('shows ANSI escape sequences as \\u escapes', () => {
    expect(escapeText('\u001b[31mred\u001b[0m')).toBe('\\u001b[31mred\\u001b[0m');
  });

  it('escapes 8-bit CSI, bidi overrides, line separators and newlines', () => {
    expect(escapeText('a\u009b2Jb\u202egnp.exe\u2028\nz')).toBe('a\\u009b2Jb\\u202egnp.exe\\u2028\\u000az');
  });

  it('escapes the backslash so a literal "\\u001b" in a record stays distinguishable', () => {
    expect(escapeText('\\u001b')).toBe('\\\\u001b');
  });

  it('escapes lone surrogates and keeps real characters, emoji included', () => {
    expect(escapeText('\ud800x é 🙂')).toBe('\\ud800x é 🙂');
  });

  it('leaves nothing terminal-active in any string (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        expect(escapeText(text)).not.toMatch(TERMINAL_ACTIVE);
      }),
    );
  });
});

describe('safe template', () => {
  it('escapes the interpolated values only', () => {
    expect(safe`event ${'\u001b]0;pwned\u0007'} changed`).toBe('event \\u001b]0;pwned\\u0007 changed');
  });
});

describe('safeJson', () => {
  it('is JSON of the same value with nothing terminal-active (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.string({ unit: 'binary' }), (value, text) => {
        const json = safeJson({ value, text });
        expect(json).not.toMatch(TERMINAL_ACTIVE);
        expect(JSON.parse(json)).toEqual(JSON.parse(JSON.stringify({ value, text })));
      }),
    );
  });
});
