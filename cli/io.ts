import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { type CliError, InputError } from './errors.ts';
import { escapeLines, escapeText, safeJson } from './escape.ts';

export interface OutStream {
  write(chunk: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

/** The process boundary, injectable so commands run in tests without spawning. */
export interface Io {
  readonly stdout: OutStream;
  readonly stderr: OutStream;
  readonly stdin: AsyncIterable<Buffer | string> & { readonly isTTY?: boolean };
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
}

export const processIo = (): Io => ({
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  cwd: process.cwd(),
});

/**
 * Where output goes. With --json, stdout carries only JSON (one document or JSON lines) and errors are JSON
 * on stderr; otherwise text. All text is escaped on the way out (see escape.ts).
 */
export class Output {
  constructor(
    readonly io: Io,
    readonly json: boolean,
  ) {}

  /** One JSON document or line on stdout (--json only). */
  data(value: unknown): void {
    if (this.json) this.io.stdout.write(`${safeJson(value)}\n`);
  }

  /**
   * One line of text for people on stdout (not with --json). A line break inside it is escaped too: lines
   * quote stored content (record ids in failure messages), which must not forge lines of their own.
   */
  text(line: string): void {
    if (!this.json) this.io.stdout.write(`${escapeText(line)}\n`);
  }

  /** Notes and warnings on stderr (never stdout: it may be piped into a JSON parser); a JSON line with --json. */
  note(line: string): void {
    this.io.stderr.write(this.json ? `${safeJson({ note: line })}\n` : `${escapeText(line)}\n`);
  }

  error(error: CliError): void {
    if (this.json) {
      this.io.stderr.write(
        `${safeJson({ error: { code: error.code, message: error.message, ...error.details } })}\n`,
      );
      return;
    }
    this.io.stderr.write(`${escapeLines(`error: ${error.message}`)}\n`);
    const issues = error.details.issues;
    if (Array.isArray(issues)) {
      for (const issue of issues.slice(0, 50) as { index?: number; path?: string; message?: string }[]) {
        const field = issue.path ? ` field ${issue.path}` : '';
        this.io.stderr.write(
          `${escapeLines(`  event ${issue.index ?? '?'}${field}: ${issue.message ?? ''}`)}\n`,
        );
      }
      if (issues.length > 50) this.io.stderr.write(`  … and ${issues.length - 50} more\n`);
    }
  }
}

/** Reads a file named on the command line ('-' is stdin), as text. */
export async function readInput(io: Io, name: string): Promise<string> {
  if (name === '-') return readStdin(io);
  try {
    return await readFile(resolve(io.cwd, name), 'utf8');
  } catch (error) {
    throw new InputError(
      'unreadable_input',
      `cannot read ${name}: ${(error as Error).message}`,
      {},
      { cause: error },
    );
  }
}

export async function readStdin(io: Io): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of io.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/** Parses JSON input, naming the file on failure. */
export function parseJsonInput(text: string, name: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new InputError(
      'invalid_json',
      `${name} is not JSON: ${(error as Error).message}`,
      {},
      { cause: error },
    );
  }
}
