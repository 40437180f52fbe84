import { Command } from 'commander';
import type { ArchiveStore } from '#core/ports.ts';
import type { VerifyFailure } from '#core/verify-log.ts';
import { archiveFromOptions } from '../archive/sources.ts';
import { describeLocation, openArchive } from '../archive/stores.ts';
import { type ArchiveVerification, archivedTenants, verifyArchive } from '../archive/verify-archive.ts';
import {
  type BundleFailure,
  type BundleVerification,
  isBundle,
  verifyBundle,
} from '../archive/verify-bundle.ts';
import { type CliContext, globalsOf, outputFor } from '../context.ts';
import { EXIT, InputError } from '../errors.ts';
import type { Output } from '../io.ts';
import { progressBar } from '../progress.ts';

export interface VerifyArchiveOptions {
  readonly tenant?: string;
}

/**
 * `verify-archive [LOCATION]`: the whole trail from the archive alone (a directory or s3://bucket/prefix, or
 * the sandbox's with --sandbox); a directory holding an evidence bundle (manifest.json) is verified as one.
 */
export function verifyArchiveCommand(ctx: CliContext): Command {
  return new Command('verify-archive')
    .description(
      'verify the trail from an archive (directory or s3://bucket/prefix) or an evidence bundle, offline',
    )
    .argument(
      '[location]',
      'archive directory, s3://bucket/prefix, or evidence bundle directory (default with --sandbox: its archive)',
    )
    .option('--tenant <tenant>', 'only the logs of this tenant')
    .action((location: string | undefined, options: VerifyArchiveOptions, command: Command) =>
      runArchiveVerification(ctx, command, location, options),
    );
}

/** Shared by `verify-archive [LOCATION]` and `verify --archive [LOCATION]`. */
export async function runArchiveVerification(
  ctx: CliContext,
  command: Command,
  location: string | undefined,
  options: VerifyArchiveOptions,
): Promise<void> {
  const out = outputFor(ctx, command);
  const where = await archiveFromOptions(globalsOf(command), location, ctx.io.cwd);
  if (where.kind === 'directory' && (await isBundle(where.path))) {
    const report = await verifyBundle(where.path);
    printBundle(out, where.path, report);
    ctx.exitCode = report.ok ? EXIT.ok : EXIT.failed;
    return;
  }
  const bars = {
    objects: progressBar(ctx.io.stderr, 'reading archive ', 0),
    logs: progressBar(ctx.io.stderr, 'verifying logs  ', 0),
    events: progressBar(ctx.io.stderr, 'placing events  ', 0),
  };
  const store = openArchive(where);
  let report: ArchiveVerification;
  try {
    report = await verifyArchive(store, {
      ...(options.tenant ? { tenant: options.tenant } : {}),
      onProgress: ({ phase, done, total }) => bars[phase].update(done, total),
      ...(ctx.now ? { now: ctx.now } : {}),
    });
  } finally {
    for (const bar of Object.values(bars)) bar.done();
  }
  if (report.ok && report.totals.logs === 0) {
    throw noLogs('verify', describeLocation(where), options.tenant, await archivedTenants(store));
  }
  printArchive(out, describeLocation(where), report);
  ctx.exitCode = report.ok ? EXIT.ok : EXIT.failed;
}

/**
 * Refuses to work on nothing: throws unless the archive holds logs (of `tenant`, if one is named), so a
 * mistyped tenant or prefix cannot pass for a verified trail or an empty evidence bundle.
 */
export async function requireLogs(
  action: 'verify' | 'export',
  store: ArchiveStore,
  where: string,
  tenant: string | undefined,
): Promise<void> {
  const tenants = await archivedTenants(store);
  const held = tenant === undefined ? tenants.length > 0 : tenants.includes(tenant);
  if (!held) throw noLogs(action, where, tenant, tenants);
}

/** The error for an archive without logs (of `tenant`), naming the tenants it holds. */
function noLogs(
  action: 'verify' | 'export',
  where: string,
  tenant: string | undefined,
  tenants: readonly string[],
): InputError {
  const held =
    tenants.length > 0
      ? `it holds logs of ${tenants.map((t) => JSON.stringify(t)).join(', ')}`
      : 'it holds no logs at all';
  return new InputError(
    'no_logs',
    tenant === undefined
      ? `nothing to ${action}: the archive ${where} holds no logs (events reach it from the table's stream, shortly after they are recorded)`
      : `nothing to ${action}: the archive ${where} holds no logs of tenant ${JSON.stringify(tenant)}; ${held}`,
    { archive: where, tenants },
  );
}

function failureLines(failure: VerifyFailure | BundleFailure): string[] {
  return [
    `check:  ${failure.check}`,
    ...(failure.origin !== undefined ? [`log:    ${failure.origin}`] : []),
    ...(failure.leafIndex !== undefined ? [`leaf:   ${failure.leafIndex}`] : []),
    ...(failure.eventId !== undefined ? [`event:  ${failure.eventId}`] : []),
    ...(failure.appendStart !== undefined ? [`append: starting at leaf ${failure.appendStart}`] : []),
    ...('file' in failure && failure.file !== undefined ? [`file:   ${failure.file}`] : []),
    `what:   ${failure.message}`,
  ];
}

function printArchive(out: Output, where: string, report: ArchiveVerification): void {
  out.data({ source: 'archive', archive: where, ...report });
  if (report.failure) {
    out.text(`ARCHIVE VERIFICATION FAILED (${where})`);
    for (const line of failureLines(report.failure)) out.text(`  ${line}`);
    return;
  }
  const { totals } = report;
  out.text(
    `verified archive ${where}: ${totals.logs} log${totals.logs === 1 ? '' : 's'}, ${totals.leaves} events in ${totals.appends} appends, ` +
      `${totals.signatures} signatures, ${report.objects} objects; every archived record on a verified leaf, every log at its latest archived checkpoint`,
  );
  for (const log of report.logs) out.text(`  ${log.origin}: size ${log.size}`);
}

function printBundle(out: Output, where: string, report: BundleVerification): void {
  out.data({ source: 'bundle', bundle: where, ...report });
  if (report.failure) {
    out.text(`EVIDENCE BUNDLE VERIFICATION FAILED (${where})`);
    for (const line of failureLines(report.failure)) out.text(`  ${line}`);
    return;
  }
  out.text(
    `verified evidence bundle ${where}: ${report.events} events (received ${report.range?.from} to ${report.range?.to}), ` +
      `${report.logs} log chains of ${report.appends} appends, ${report.signatures} checkpoint signatures`,
  );
}
