import {
  type AthenaClient,
  type ColumnInfo,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  type GetQueryResultsCommandOutput,
  type Row,
  StartQueryExecutionCommand,
} from '@aws-sdk/client-athena';
import { type BoundQuery, sqlStringLiteral } from '#core/report-queries.ts';
import type { Cell, ReportResult, ReportRow } from './result.ts';

export interface AthenaOptions {
  readonly client: AthenaClient;
  readonly workgroup: string;
  readonly database: string;
  /** @default - 'AwsDataCatalog' */
  readonly catalog?: string;
  /** Backoff between polls: starts here and doubles up to `maxPollMs`. @default - 250 */
  readonly firstPollMs?: number;
  /** @default - 5000 */
  readonly maxPollMs?: number;
  /** Give up (and say so) after this long. @default - 15 minutes */
  readonly timeoutMs?: number;
  /** Injected for tests. @default - setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
}

export class AthenaQueryError extends Error {
  override readonly name = 'AthenaQueryError';
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs a bound catalogue query on Athena: the catalogue SQL with ExecutionParameters (each value a quoted
 * SQL string literal, which is how Athena takes them), in the configured workgroup, whose settings (result
 * location, encryption, scan cutoff) apply.
 */
export async function runAthenaReport(bound: BoundQuery, options: AthenaOptions): Promise<ReportResult> {
  const started = await options.client.send(
    new StartQueryExecutionCommand({
      QueryString: bound.query.sql,
      ExecutionParameters: bound.bindings.map(sqlStringLiteral),
      WorkGroup: options.workgroup,
      QueryExecutionContext: { Database: options.database, Catalog: options.catalog ?? 'AwsDataCatalog' },
    }),
  );
  const id = started.QueryExecutionId;
  if (!id) throw new AthenaQueryError('Athena returned no QueryExecutionId');
  await waitForQuery(id, options);
  return readResults(id, options.client);
}

async function waitForQuery(id: string, options: AthenaOptions): Promise<void> {
  const sleep = options.sleep ?? defaultSleep;
  const maxPoll = options.maxPollMs ?? 5000;
  let delay = options.firstPollMs ?? 250;
  let waited = 0;
  for (;;) {
    const { QueryExecution } = await options.client.send(
      new GetQueryExecutionCommand({ QueryExecutionId: id }),
    );
    const status = QueryExecution?.Status;
    switch (status?.State) {
      case 'SUCCEEDED':
        return;
      case 'FAILED':
      case 'CANCELLED':
        throw new AthenaQueryError(
          `Athena query ${id} ${status.State.toLowerCase()}: ${status.StateChangeReason ?? status.AthenaError?.ErrorMessage ?? 'no reason given'}`,
        );
    }
    if (waited >= (options.timeoutMs ?? 15 * 60_000))
      throw new AthenaQueryError(`Athena query ${id} still ${status?.State ?? 'unknown'} after ${waited} ms`);
    await sleep(delay);
    waited += delay;
    delay = Math.min(delay * 2, maxPoll);
  }
}

async function readResults(id: string, client: AthenaClient): Promise<ReportResult> {
  let columns: ColumnInfo[] | undefined;
  const rows: ReportRow[] = [];
  let token: string | undefined;
  let first = true;
  do {
    const page: GetQueryResultsCommandOutput = await client.send(
      new GetQueryResultsCommand({ QueryExecutionId: id, ...(token ? { NextToken: token } : {}) }),
    );
    columns ??= page.ResultSet?.ResultSetMetadata?.ColumnInfo ?? [];
    // The first row of the first page of a SELECT repeats the column names.
    const data = (page.ResultSet?.Rows ?? []).slice(first ? 1 : 0);
    for (const row of data) rows.push(toRow(row, columns));
    first = false;
    token = page.NextToken;
  } while (token);
  return { columns: (columns ?? []).map((column) => column.Name ?? ''), rows };
}

const INTEGER_TYPES = new Set(['tinyint', 'smallint', 'integer', 'bigint']);

function toCell(value: string | undefined, type: string | undefined): Cell {
  if (value === undefined) return null;
  if (type && INTEGER_TYPES.has(type)) {
    const number = Number(value);
    return Number.isSafeInteger(number) ? number : value;
  }
  if (type === 'double' || type === 'float' || type === 'real') return Number(value);
  if (type === 'boolean') return value === 'true';
  return value;
}

function toRow(row: Row, columns: readonly ColumnInfo[]): ReportRow {
  const out: ReportRow = {};
  columns.forEach((column, i) => {
    out[column.Name ?? `_col${i}`] = toCell(row.Data?.[i]?.VarCharValue, column.Type);
  });
  return out;
}
