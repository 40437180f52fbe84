import type { Command } from 'commander';
import type { AuditClientOptions } from './client.ts';
import type { GlobalOptions } from './config.ts';
import { type Io, Output } from './io.ts';

/** What every command gets: the process boundary, and hooks tests use to avoid real waits. */
export interface CliContext {
  readonly io: Io;
  /** --json anywhere on the command line (known before commander parses, so its own errors can be JSON). */
  readonly json: boolean;
  /** Set by the command's action; `run` returns it. */
  exitCode: number;
  /** Client settings a test can override (retry sleeps, page sizes). */
  readonly clientDefaults?: Partial<AuditClientOptions>;
  readonly now?: () => number;
}

export const globalsOf = (command: Command) => command.optsWithGlobals() as GlobalOptions;

export const outputFor = (ctx: CliContext, _command?: Command) => new Output(ctx.io, ctx.json);
