/**
 * Stored content (records, event ids, API messages) is attacker-influenced: a writer can put ANSI escapes
 * or bidi overrides in a field and have them run in an auditor's terminal. Everything echoed goes through
 * these functions, which show such characters as `\uXXXX` instead.
 */

/** C0/C1 controls, DEL, bidi controls and invisible separators; the backslash so escapes stay unambiguous. */
const UNSAFE_TEXT =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
  /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\\]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** What JSON.stringify leaves raw but a terminal may act on (it already escapes C0, quotes, backslash). */
const UNSAFE_IN_JSON = /[\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

const unicodeEscape = (char: string) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** One value made safe to print: no control, escape or bidi character survives. */
export function escapeText(value: unknown): string {
  const text = typeof value === 'string' ? value : String(value);
  return text.replace(UNSAFE_TEXT, (char) => (char === '\\' ? '\\\\' : unicodeEscape(char)));
}

/** Same, but keeps the line breaks of text the CLI itself composed. */
export const escapeLines = (text: string) => text.split('\n').map(escapeText).join('\n');

/** JSON text with every terminal-active character escaped; still valid JSON with the same value. */
export const safeJson = (value: unknown, indent?: number) =>
  JSON.stringify(value, null, indent).replace(UNSAFE_IN_JSON, unicodeEscape);

/** Tagged template that escapes every interpolated value: safe`event ${id} changed`. */
export function safe(strings: TemplateStringsArray, ...values: unknown[]): string {
  return strings.reduce((out, part, i) => out + part + (i < values.length ? escapeText(values[i]) : ''), '');
}
