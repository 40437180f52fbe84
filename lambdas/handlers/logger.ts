import { Logger } from '@aws-lambda-powertools/logger';

/**
 * Characters JSON leaves raw that still reorder or hide text in a log viewer: C1 controls, bidi marks and
 * overrides, zero-width characters, line/paragraph separators, the BOM. Audit records are attacker-chosen
 * text, so logs show these as visible `\uXXXX` escapes instead.
 */
const INVISIBLE = /[\u0080-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

export const escapeInvisible = (text: string) =>
  text.replace(INVISIBLE, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);

/** The Powertools logger every Lambda entry uses. */
export const createLogger = () =>
  new Logger({
    jsonReplacerFn: (_key, value) => (typeof value === 'string' ? escapeInvisible(value) : value),
  });
