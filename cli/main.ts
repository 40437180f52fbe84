import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { AuditApiError } from './client.ts';
import { exportCommand } from './commands/export.ts';
import { legalHoldCommand } from './commands/legal-hold.ts';
import { reportCommand } from './commands/report.ts';
import { sendCommand } from './commands/send.ts';
import { verifyCommand } from './commands/verify.ts';
import { verifyArchiveCommand } from './commands/verify-archive.ts';
import { verifyReceiptCommand } from './commands/verify-receipt.ts';
import type { CliContext } from './context.ts';
import { CliError, EXIT } from './errors.ts';
import { type Io, Output, processIo } from './io.ts';

/** The `audit-trail` program. Each command lives in its own file under cli/commands/. */
export function buildProgram(ctx: CliContext): Command {
  const program = new Command('audit-trail')
    .description('Send audit events and verify a tamper-evident audit trail')
    .option('--json', 'machine output: JSON on stdout only, errors as JSON on stderr')
    .option('--endpoint <url>', 'API base URL, stage included (or AUDIT_TRAIL_ENDPOINT)')
    .option('--region <region>', 'AWS region for SigV4 (or AWS_REGION; read from an execute-api URL)')
    .option('--sandbox', 'use the local sandbox (npm start) described by .audit-local/sandbox.json')
    .option('--sandbox-file <file>', 'use the sandbox described by FILE (implies --sandbox)')
    .option('--profile <name>', 'AWS profile for credentials')
    .showSuggestionAfterError();
  for (const command of [sendCommand(ctx), verifyCommand(ctx), verifyReceiptCommand(ctx)])
    program.addCommand(command);
  for (const command of [
    reportCommand(ctx),
    exportCommand(ctx),
    verifyArchiveCommand(ctx),
    legalHoldCommand(ctx),
  ])
    program.addCommand(command);
  configure(program, ctx);
  return program;
}

/** Usage errors exit 2 (not commander's 1, which means "verification failed" here) and honour --json. */
function configure(command: Command, ctx: CliContext): void {
  command.exitOverride();
  command.configureOutput({
    writeOut: (text) => ctx.io.stdout.write(text),
    writeErr: (text) => ctx.io.stderr.write(text),
    outputError: (text, write) => (ctx.json ? undefined : write(text)),
  });
  for (const sub of command.commands) configure(sub, ctx);
}

/** Runs the CLI with `argv` (arguments after the program name); resolves to the exit code. */
export async function run(
  argv: readonly string[],
  io: Io = processIo(),
  overrides: Partial<CliContext> = {},
): Promise<number> {
  const json = argv.includes('--json');
  const ctx: CliContext = { io, json, exitCode: EXIT.ok, ...overrides };
  const out = new Output(ctx.io, json);
  try {
    await buildProgram(ctx).parseAsync([...argv], { from: 'user' });
    return ctx.exitCode;
  } catch (error) {
    const failure = toCliError(error);
    if (failure.exitCode === EXIT.ok) return EXIT.ok;
    if (!(error instanceof CommanderError) || json) out.error(failure);
    return failure.exitCode;
  }
}

/** Every error ends as a CliError: its exit code says whose fault it was. */
export function toCliError(error: unknown): CliError {
  if (error instanceof CliError) return error;
  if (error instanceof CommanderError) {
    const done =
      ['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(error.code) &&
      error.exitCode === 0;
    return new CliError(done ? EXIT.ok : EXIT.usage, 'usage', error.message.replace(/^error: /, ''));
  }
  if (error instanceof AuditApiError) {
    const status = error.status === 0 ? '' : `HTTP ${error.status} `;
    return new CliError(EXIT.api, error.code, `${status}${error.code}: ${error.message}`, {
      status: error.status,
      ...(error.issues ? { issues: error.issues } : {}),
      ...(error.details.requestId ? { requestId: error.details.requestId } : {}),
    });
  }
  if (error instanceof TypeError && /endpoint/.test(error.message))
    return new CliError(EXIT.usage, 'usage', error.message);
  const message = error instanceof Error ? error.message : String(error);
  return new CliError(EXIT.api, 'error', message);
}

/** Entry point for bin.mjs and `tsx cli/main.ts`. */
export async function main(): Promise<void> {
  // `audit-trail report … | head` closes stdout early: that is the reader's choice, not a failure.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
  // The AWS SDK warns once per process that Node 20 support ends in 2027; the README says so already.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  process.exitCode = await run(process.argv.slice(2));
}

const invokedDirectly = () => {
  try {
    return realpathSync(process.argv[1] ?? '') === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
};

if (invokedDirectly()) await main();
