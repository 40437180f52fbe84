import { S3Client } from '@aws-sdk/client-s3';
import { Command } from 'commander';
import { applyLegalHold, tenantsWithEvents } from '../archive/legal-hold.ts';
import { archiveFromOptions, partitionRange, periodOptions, usesSandbox } from '../archive/sources.ts';
import { type CliContext, globalsOf, outputFor } from '../context.ts';
import { EXIT, InputError, UsageError } from '../errors.ts';

interface LegalHoldOptions {
  readonly tenant: string;
  readonly from: string;
  readonly to: string;
  readonly bucket?: string;
  readonly prefix?: string;
  readonly dryRun?: boolean;
  readonly includeShared?: boolean;
}

/** `legal-hold on|off`: S3 Object Lock legal holds on a tenant's archived period and the objects proving it. */
export function legalHoldCommand(ctx: CliContext): Command {
  return new Command('legal-hold')
    .description(
      "set or release S3 legal holds on a tenant's archived events in a period, and the checkpoints and keys they need",
    )
    .argument('<status>', 'on or off')
    .requiredOption('--tenant <tenant>', 'tenant')
    .requiredOption('--from <time>', 'start, inclusive')
    .requiredOption('--to <time>', 'end, exclusive')
    .option('--bucket <bucket>', 'archive bucket (or --sandbox)')
    .option('--prefix <prefix>', 'archive prefix inside the bucket', '')
    .option('--dry-run', 'list what would change, change nothing')
    .option(
      '--include-shared',
      'with off: also release checkpoints/ and keys/ objects (shared with other holds)',
    )
    .action(async (statusText: string, options: LegalHoldOptions, command: Command) => {
      const out = outputFor(ctx, command);
      const status =
        statusText.toLowerCase() === 'on' ? 'ON' : statusText.toLowerCase() === 'off' ? 'OFF' : undefined;
      if (!status) throw new UsageError(`legal-hold takes on or off, got ${statusText}`);
      const target = await bucketOf(options, command, ctx);
      const changes = await applyLegalHold({
        ...target,
        tenant: options.tenant,
        ...partitionRange(periodOptions(options)),
        status,
        dryRun: options.dryRun ?? false,
        includeShared: options.includeShared ?? false,
      });
      if (!changes.some((change) => change.kind === 'events')) {
        throw await nothingToHold(target, options, status);
      }
      const changed = changes.filter((change) => change.changed);
      out.data({ status, dryRun: options.dryRun ?? false, bucket: target.bucket, changes });
      const verb = options.dryRun ? 'would set' : 'set';
      for (const change of changed) out.text(`${verb} legal hold ${status} on ${change.key}`);
      out.text(
        `${changed.length} of ${changes.length} objects ${options.dryRun ? 'would change' : 'changed'}; ${changes.length - changed.length} already ${status}`,
      );
      ctx.exitCode = EXIT.ok;
    });
}

/**
 * A hold that matches no events object holds nothing a matter needs: most likely a mistyped tenant or
 * period. It is refused (exit 2) rather than reported as "0 objects changed", naming the tenants with events.
 */
async function nothingToHold(
  target: Awaited<ReturnType<typeof bucketOf>>,
  options: LegalHoldOptions,
  status: 'ON' | 'OFF',
): Promise<InputError> {
  const tenants = await tenantsWithEvents(target);
  const held = tenants.includes(options.tenant)
    ? `tenant ${JSON.stringify(options.tenant)} has none in that period`
    : `the archive holds events of ${tenants.length > 0 ? tenants.map((t) => JSON.stringify(t)).join(', ') : 'no tenant'}`;
  return new InputError(
    'nothing_to_hold',
    `no archived events of tenant ${JSON.stringify(options.tenant)} from ${options.from} to ${options.to}: no legal hold ${status === 'ON' ? 'set' : 'released'} (${held})`,
    { tenant: options.tenant, tenants },
  );
}

async function bucketOf(options: LegalHoldOptions, command: Command, ctx: CliContext) {
  const globals = globalsOf(command);
  if (options.bucket) {
    const prefix =
      options.prefix && !options.prefix.endsWith('/') ? `${options.prefix}/` : (options.prefix ?? '');
    const region = globals.region ?? ctx.io.env.AWS_REGION ?? ctx.io.env.AWS_DEFAULT_REGION;
    const { fromNodeProviderChain } = await import('@aws-sdk/credential-providers');
    const client = new S3Client({
      ...(region ? { region } : {}),
      credentials: fromNodeProviderChain(globals.profile ? { profile: globals.profile } : {}),
    });
    return { client, bucket: options.bucket, prefix };
  }
  if (!usesSandbox(globals)) throw new UsageError('no bucket: pass --bucket B (and --prefix), or --sandbox');
  const location = await archiveFromOptions(globals, undefined, ctx.io.cwd);
  if (location.kind !== 's3')
    throw new UsageError('legal holds exist only in S3: pass --bucket or --sandbox');
  return { client: new S3Client(location.config), bucket: location.bucket, prefix: location.prefix };
}
