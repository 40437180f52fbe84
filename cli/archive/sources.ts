import { stat } from 'node:fs/promises';
import { normalizeTimestamp, ReportParameterError } from '#core/report-queries.ts';
import { DEFAULT_SANDBOX_FILE, type GlobalOptions } from '../config.ts';
import { InputError, UsageError } from '../errors.ts';
import { type ArchiveLocation, parseArchiveLocation, sandboxArchiveLocation } from './stores.ts';

/** `--archive DIR|s3://bucket/prefix`, or the sandbox's archive with `--sandbox`; one of them is needed. */
export async function archiveFromOptions(
  globals: GlobalOptions,
  archive: string | undefined,
  cwd: string,
): Promise<ArchiveLocation> {
  const sandbox = usesSandbox(globals);
  if (archive && sandbox) throw new UsageError('pass either --archive or --sandbox, not both');
  if (archive) return existingArchive(parseArchiveLocation(archive, cwd, globals.region));
  if (sandbox) return sandboxArchiveLocation(globals.sandboxFile ?? DEFAULT_SANDBOX_FILE, cwd);
  throw new UsageError('no archive: pass --archive DIR or s3://bucket/prefix, or --sandbox');
}

/**
 * A directory archive must exist: a mistyped path would otherwise read as an empty archive. (An S3 prefix
 * cannot be told apart from an empty one; the commands report what they found there.)
 */
async function existingArchive(location: ArchiveLocation): Promise<ArchiveLocation> {
  if (location.kind !== 'directory') return location;
  const info = await stat(location.path).catch(() => undefined);
  if (!info?.isDirectory()) {
    throw new InputError(
      'no_archive',
      `no archive at ${location.path}: ${info ? 'not a directory' : 'no such directory'}`,
      {
        archive: location.path,
      },
    );
  }
  return location;
}

/** `--sandbox`, or `--sandbox-file FILE` (which implies it). */
export const usesSandbox = (globals: GlobalOptions) => Boolean(globals.sandbox || globals.sandboxFile);

/** A `--from`/`--to` value in `toISOString()` form, or a usage error naming the flag. */
export function timeOption(value: string, flag: string): string {
  try {
    return normalizeTimestamp(value, flag);
  } catch (error) {
    if (error instanceof ReportParameterError) throw new UsageError(error.message);
    throw error;
  }
}

/** [from, to) as normalized times, checked in order. */
export function periodOptions(options: { from: string; to: string }): { from: string; to: string } {
  const from = timeOption(options.from, '--from');
  const to = timeOption(options.to, '--to');
  if (from >= to) throw new UsageError(`--from (${from}) must be before --to (${to})`);
  return { from, to };
}

/** dt partitions holding records received in [from, to): one day of slack before, since an object is filed under its first record's date. */
export const partitionRange = (period: { from: string; to: string }) => ({
  fromPartition: new Date(Date.parse(period.from) - 86_400_000).toISOString().slice(0, 10),
  toPartition: new Date(Date.parse(period.to) - 1).toISOString().slice(0, 10),
});
