import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger, escapeInvisible } from '../../lambdas/handlers/logger.ts';

const HIDDEN = ['\u202e', '\u2066', '\u200b', '\u2028', '\u0085', '\u061c', '\ufeff'];

describe('Lambda logger', () => {
  afterEach(() => vi.restoreAllMocks());

  it('shows bidi, zero-width, separator and C1 characters as visible escapes', () => {
    expect(escapeInvisible('evil\u202efdp.exe')).toBe('evil\\u202efdp.exe');
    for (const char of HIDDEN) expect(escapeInvisible(`a${char}b`)).not.toContain(char);
    expect(escapeInvisible('plain ascii, ümlaut, 日本, 😀')).toBe('plain ascii, ümlaut, 日本, 😀');
  });

  it('writes log lines in which no hidden character of a record survives', () => {
    const lines: string[] = [];
    const grab = (chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    };
    // Powertools writes info to stdout and warnings/errors to stderr.
    vi.spyOn(process.stdout, 'write').mockImplementation(grab);
    vi.spyOn(process.stderr, 'write').mockImplementation(grab);
    const logger = createLogger();
    logger.warn(`rejected ${HIDDEN.join('')}`, { record: { actor: { id: `root${HIDDEN.join('')}` } } });
    const output = lines.join('');
    expect(output).toContain('rejected');
    for (const char of HIDDEN) expect(output).not.toContain(char);
    expect(JSON.parse(output.trim()).record.actor.id).toBe(
      `root${HIDDEN.map((c) => escapeInvisible(c)).join('')}`,
    );
  });
});
