import { AthenaClient } from '@aws-sdk/client-athena';
import { Command } from 'commander';
import {
  type BoundQuery,
  bindParameters,
  findReport,
  REPORT_QUERIES,
  ReportParameterError,
  UnknownReportError,
} from '#core/report-queries.ts';
import { archiveFromOptions, usesSandbox } from '../archive/sources.ts';
import { openArchive } from '../archive/stores.ts';
import { type CliContext, globalsOf, outputFor } from '../context.ts';
import { CliError, EXIT, UsageError } from '../errors.ts';
import { escapeText } from '../escape.ts';
import { runAthenaReport } from '../reports/athena-engine.ts';
import { formatCsv, formatTable } from '../reports/format.ts';
import { copyEventsLocally, partitionFilter, runLocalReport } from '../reports/local-engine.ts';
import type { ReportResult } from '../reports/result.ts';

interface ReportOptions {
  readonly list?: boolean;
  readonly param: string[];
  readonly from?: string;
  readonly to?: string;
  readonly tenant?: string;
  readonly archive?: string;
  readonly athena?: boolean;
  readonly workgroup?: string;
  readonly database?: string;
  readonly csv?: boolean;
}

const DEFAULT_DAYS = 30;

/** `report NAME`: a named compliance query (docs/REPORTS.md) on Athena, or locally with DuckDB over the archive. */
export function reportCommand(ctx: CliContext): Command {
  return new Command('report')
    .description(
      'run a named compliance query on Athena or locally over the archive (report --list shows them)',
    )
    .argument('[name]', 'report name')
    .option('--list', 'list the reports and their parameters')
    .option(
      '--param <name=value>',
      'a report parameter (repeatable)',
      (value: string, all: string[]) => [...all, value],
      [],
    )
    .option('--from <time>', `start of the period, inclusive (default: ${DEFAULT_DAYS} days before --to)`)
    .option('--to <time>', 'end of the period, exclusive (default: now)')
    .option('--tenant <tenant>', 'only this tenant (default: every tenant)')
    .option('--archive <location>', 'run locally over an archive: a directory or s3://bucket/prefix')
    .option('--athena', 'run on Athena (needs --workgroup and --database)')
    .option('--workgroup <name>', 'Athena workgroup')
    .option('--database <name>', 'Glue database holding audit_events')
    .option('--csv', 'CSV output')
    .action(async (name: string | undefined, options: ReportOptions, command: Command) => {
      if (options.list) return listReports(ctx);
      if (!name) throw new UsageError('name a report (report --list shows them)');
      const bound = bind(name, options, ctx);
      const result = await runReport(bound, options, command, ctx);
      print(ctx, result, options);
      ctx.exitCode = EXIT.ok;
    });
}

function listReports(ctx: CliContext): void {
  const out = outputFor(ctx);
  out.data({
    reports: REPORT_QUERIES.map(({ name, description, parameters }) => ({ name, description, parameters })),
  });
  for (const query of REPORT_QUERIES) {
    out.text(query.name);
    out.text(`  ${query.description}`);
    for (const p of query.parameters.filter(
      (parameter) => !['from', 'to', 'tenant'].includes(parameter.name),
    )) {
      const detail = p.required ? 'required' : `default ${JSON.stringify(p.default)}`;
      out.text(`  --param ${p.name}=…  ${p.description} (${detail})`);
    }
  }
}

function bind(name: string, options: ReportOptions, ctx: CliContext): BoundQuery {
  const params: Record<string, string> = {};
  for (const pair of options.param) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new UsageError(`--param takes name=value, got ${JSON.stringify(pair)}`);
    params[pair.slice(0, at)] = pair.slice(at + 1);
  }
  const now = new Date(ctx.now?.() ?? Date.now());
  const to = options.to ?? now.toISOString();
  const from = options.from ?? new Date(Date.parse(to) - DEFAULT_DAYS * 86_400_000).toISOString();
  try {
    return bindParameters(findReport(name), {
      ...params,
      from,
      to,
      ...(options.tenant ? { tenant: options.tenant } : {}),
    });
  } catch (error) {
    if (error instanceof UnknownReportError || error instanceof ReportParameterError)
      throw new UsageError(error.message);
    throw error;
  }
}

async function runReport(
  bound: BoundQuery,
  options: ReportOptions,
  command: Command,
  ctx: CliContext,
): Promise<ReportResult> {
  const globals = globalsOf(command);
  if (options.athena) {
    if (options.archive || usesSandbox(globals))
      throw new UsageError('--athena runs in AWS: drop --archive/--sandbox');
    if (!options.workgroup || !options.database)
      throw new UsageError('--athena needs --workgroup and --database');
    const region = globals.region ?? ctx.io.env.AWS_REGION ?? ctx.io.env.AWS_DEFAULT_REGION;
    if (!region) throw new UsageError('no region: pass --region (or set AWS_REGION)');
    const { fromNodeProviderChain } = await import('@aws-sdk/credential-providers');
    const client = new AthenaClient({
      region,
      credentials: fromNodeProviderChain(globals.profile ? { profile: globals.profile } : {}),
    });
    return failAsApi(() =>
      runAthenaReport(bound, { client, workgroup: options.workgroup!, database: options.database! }),
    );
  }
  const location = await archiveFromOptions(globals, options.archive, ctx.io.cwd);
  if (location.kind === 'directory') return failAsApi(() => runLocalReport(bound, location.path));
  const local = await failAsApi(() => copyEventsLocally(openArchive(location), partitionFilter(bound)));
  try {
    return await failAsApi(() => runLocalReport(bound, local.dir));
  } finally {
    local.cleanup();
  }
}

/** Engine and network failures exit 3 with the engine's message. */
async function failAsApi<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(
      EXIT.api,
      'report_failed',
      `report failed: ${error instanceof Error ? error.message : String(error)}`,
      {},
      { cause: error },
    );
  }
}

function print(ctx: CliContext, result: ReportResult, options: ReportOptions): void {
  if (ctx.json) {
    outputFor(ctx).data({ report: result, count: result.rows.length });
    return;
  }
  if (options.csv) {
    ctx.io.stdout.write(formatCsv(result));
    return;
  }
  for (const line of formatTable(result)) ctx.io.stdout.write(`${line}\n`);
  ctx.io.stdout.write(`${escapeText(`(${result.rows.length} row${result.rows.length === 1 ? '' : 's'})`)}\n`);
}
