import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Command } from 'commander';
import { exportBundle } from '../archive/export-bundle.ts';
import { archiveFromOptions, periodOptions } from '../archive/sources.ts';
import { describeLocation, openArchive } from '../archive/stores.ts';
import { type CliContext, globalsOf, outputFor } from '../context.ts';
import { EXIT } from '../errors.ts';
import { requireLogs } from './verify-archive.ts';

interface ExportOptions {
  readonly from: string;
  readonly to: string;
  readonly out: string;
  readonly tenant?: string;
  readonly archive?: string;
}

/** `export`: an evidence bundle (docs/EVIDENCE.md) for the events received in [--from, --to). */
export function exportCommand(ctx: CliContext): Command {
  return new Command('export')
    .description(
      'write an evidence bundle (records, receipts, checkpoint chains, keys, manifest, README) for a period',
    )
    .requiredOption(
      '--from <time>',
      'start, inclusive (RFC 3339 or YYYY-MM-DD, UTC; compared with receivedAt)',
    )
    .requiredOption('--to <time>', 'end, exclusive')
    .requiredOption('--out <dir>', 'new or empty directory for the bundle')
    .option('--tenant <tenant>', 'only this tenant')
    .option('--archive <location>', 'archive directory or s3://bucket/prefix (or --sandbox)')
    .action(async (options: ExportOptions, command: Command) => {
      const out = outputFor(ctx, command);
      const period = periodOptions(options);
      const where = await archiveFromOptions(globalsOf(command), options.archive, ctx.io.cwd);
      const outDir = resolve(ctx.io.cwd, options.out);
      const store = openArchive(where);
      await requireLogs('export', store, describeLocation(where), options.tenant);
      const result = await exportBundle(store, {
        ...period,
        ...(options.tenant ? { tenant: options.tenant } : {}),
        outDir,
        tool: { name: 'audit-trail', version: await toolVersion() },
      });
      if (!result.ok) {
        out.data({ ok: false, archive: describeLocation(where), failure: result.failure });
        out.text(
          `NOT EXPORTED: the archive does not verify (${result.failure.check}, log ${result.failure.origin}): ${result.failure.message}`,
        );
        ctx.exitCode = EXIT.failed;
        return;
      }
      const { manifest } = result;
      out.data({ ok: true, out: outDir, manifest });
      out.text(
        `exported ${manifest.counts.events} events from ${manifest.counts.logs} logs (${manifest.counts.appends} appends, ${manifest.counts.keys} keys) to ${outDir}`,
      );
      out.text(`check it offline: audit-trail verify-archive ${outDir}`);
      ctx.exitCode = EXIT.ok;
    });
}

async function toolVersion(): Promise<string> {
  const text = await readFile(new URL('../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}
