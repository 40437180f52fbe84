import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Command } from 'commander';
import type { VerifyFailure } from '#core/verify-log.ts';
import { AuditClient } from '../client.ts';
import { resolveConnection } from '../config.ts';
import { type CliContext, globalsOf, outputFor } from '../context.ts';
import { EXIT } from '../errors.ts';
import { type Output, readInput } from '../io.ts';
import { progressBar } from '../progress.ts';
import { apiTrailSource, type TrailReport, verifyTrail } from '../verify-trail.ts';
import { parseWitness, savedCheckpoints, type Witness } from '../witness.ts';
import { runArchiveVerification } from './verify-archive.ts';

interface VerifyOptions {
  readonly checkpoints?: string;
  readonly saveCheckpoints?: string;
  /** `--archive [LOCATION]`: verify from the archive alone (true: the sandbox's archive). */
  readonly archive?: string | true;
  readonly tenant?: string;
}

/**
 * `verify`: the whole trail of the caller's tenant from the API (auditor role). Sources other than the API
 * (an archive, an export directory) plug in as other `TrailSource`s of `verifyTrail`.
 */
export function verifyCommand(ctx: CliContext): Command {
  return new Command('verify')
    .description('verify every log of the tenant and place every stored event on a verified leaf')
    .option(
      '--checkpoints <file>',
      'checkpoints seen before (a witness), or receipts: fail if a log no longer reaches them',
    )
    .option(
      '--save-checkpoints <file>',
      'when everything verifies, save each log head there (use as --checkpoints next time)',
    )
    .option(
      '--archive [location]',
      'verify from the Object Lock archive alone: a directory, s3://bucket/prefix or an evidence bundle (with --sandbox: its archive)',
    )
    .option('--tenant <tenant>', 'with --archive: only the logs of this tenant')
    .action(async (options: VerifyOptions, command: Command) => {
      if (options.archive !== undefined) {
        const location = options.archive === true ? undefined : options.archive;
        return runArchiveVerification(
          ctx,
          command,
          location,
          options.tenant ? { tenant: options.tenant } : {},
        );
      }
      const out = outputFor(ctx, command);
      const witness = options.checkpoints
        ? await loadWitness(ctx, options.checkpoints)
        : { checkpoints: [], receipts: [] };
      const connection = await resolveConnection(globalsOf(command), 'auditor', ctx.io);
      const client = new AuditClient({
        ...ctx.clientDefaults,
        ...connection,
        onRetry: (retry) =>
          out.note(`retrying ${retry.method} ${retry.path} in ${retry.delayMs} ms (${retry.reason})`),
      });
      const logsBar = progressBar(ctx.io.stderr, 'verifying logs  ', 0);
      const eventsBar = progressBar(ctx.io.stderr, 'placing events  ', 0);
      let report: TrailReport;
      try {
        report = await verifyTrail(apiTrailSource(client), {
          knownCheckpoints: witness.checkpoints,
          receipts: witness.receipts,
          onProgress: ({ phase, done, total }) =>
            (phase === 'logs' ? logsBar : eventsBar).update(done, total),
          ...(ctx.now ? { now: ctx.now } : {}),
        });
      } finally {
        logsBar.done();
        eventsBar.done();
      }
      if (report.ok && options.saveCheckpoints) await save(ctx, options.saveCheckpoints, report);
      printReport(out, report, options.saveCheckpoints);
      ctx.exitCode = report.ok ? EXIT.ok : EXIT.failed;
    });
}

async function loadWitness(ctx: CliContext, file: string): Promise<Witness> {
  return parseWitness(await readInput(ctx.io, file), file);
}

async function save(ctx: CliContext, file: string, report: TrailReport): Promise<void> {
  const logs = report.logs.map((log) => ({ origin: log.origin, size: log.size, checkpoint: log.checkpoint }));
  await writeFile(
    resolve(ctx.io.cwd, file),
    `${JSON.stringify(savedCheckpoints(logs, new Date()), null, 2)}\n`,
  );
}

function printReport(out: Output, report: TrailReport, savedTo: string | undefined): void {
  out.data(report);
  const { totals } = report;
  const seconds = (report.elapsedMs / 1000).toFixed(1);
  if (report.failure) {
    out.text('VERIFICATION FAILED');
    for (const line of failureLines(report.failure)) out.text(`  ${line}`);
    out.text(
      `(checked before the failure: ${totals.logs} logs, ${totals.leaves} events, ${totals.appends} appends, ${totals.signatures} signatures, ${seconds} s)`,
    );
    return;
  }
  out.text(
    `verified ${count(totals.logs, 'log')}: ${count(totals.leaves, 'event')} in ${count(totals.appends, 'append')}, ` +
      `${count(totals.signatures, 'signature')} checked; ${count(report.eventsListed, 'listed event')} each on a verified leaf (${seconds} s)`,
  );
  for (const log of report.logs) out.text(`  ${log.origin}: size ${log.size}`);
  if (savedTo) out.text(`log heads saved to ${savedTo}`);
}

const count = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;

function failureLines(failure: VerifyFailure): string[] {
  return [
    `check:  ${failure.check}`,
    `log:    ${failure.origin}`,
    ...(failure.leafIndex !== undefined ? [`leaf:   ${failure.leafIndex}`] : []),
    ...(failure.eventId !== undefined ? [`event:  ${failure.eventId}`] : []),
    ...(failure.appendStart !== undefined ? [`append: starting at leaf ${failure.appendStart}`] : []),
    `what:   ${failure.message}`,
  ];
}
