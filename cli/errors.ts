/** Exit codes of `audit-trail` (documented in docs/CLI.md; scripts depend on them). */
export const EXIT = {
  ok: 0,
  /** Verification ran and something does not hold. */
  failed: 1,
  /** Bad flags, unreadable or invalid input: nothing was sent. */
  usage: 2,
  /** The API or the network failed; the outcome is unknown. */
  api: 3,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error the CLI reports and exits with; `code` is the JSON error code. */
export class CliError extends Error {
  override readonly name: string = 'CliError';
  constructor(
    readonly exitCode: ExitCode,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Wrong flags or arguments. */
export class UsageError extends CliError {
  override readonly name = 'UsageError';
  constructor(message: string, options?: ErrorOptions) {
    super(EXIT.usage, 'usage', message, {}, options);
  }
}

/** Input that cannot be used (unreadable file, not JSON, invalid events). */
export class InputError extends CliError {
  override readonly name = 'InputError';
  constructor(code: string, message: string, details: Record<string, unknown> = {}, options?: ErrorOptions) {
    super(EXIT.usage, code, message, details, options);
  }
}
