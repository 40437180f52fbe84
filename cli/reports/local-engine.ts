import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { ARCHIVE_PREFIXES } from '#core/archive-layout.ts';
import type { ArchiveStore } from '#core/ports.ts';
import {
  AUDIT_EVENTS_TABLE,
  type BoundQuery,
  DUCKDB_COMPATIBILITY_SQL,
  duckdbColumns,
  sqlStringLiteral,
} from '#core/report-queries.ts';
import { type ReportResult, type ReportRow, toCell } from './result.ts';

/**
 * Runs catalogue queries with DuckDB over the archive's `events/` objects in a local directory laid out
 * as in archive-layout.ts. The view `audit_events` has the Glue table's columns (record struct plus the
 * hive partitions `tenant` and `dt`), so the catalogue's SQL runs unchanged.
 */
export async function runLocalReport(bound: BoundQuery, archiveDir: string): Promise<ReportResult> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    // DuckDB 1.5's top-N window rewrite of `row_number() … = 1` hits an internal cast error under GROUP BY.
    await connection.run(`SET disabled_optimizers = 'top_n_window_elimination'`);
    for (const statement of DUCKDB_COMPATIBILITY_SQL) await connection.run(statement);
    await connection.run(createViewSql(archiveDir));
    const reader = await connection.runAndReadAll(bound.query.sql, [...bound.bindings]);
    const columns = reader.columnNames();
    const rows = reader.getRowObjectsJS().map((row) => {
      const out: ReportRow = {};
      for (const column of columns) out[column] = toCell(row[column]);
      return out;
    });
    return { columns, rows };
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** The view over every events object; an archive with none gets an empty table of the same shape. */
export function createViewSql(archiveDir: string): string {
  const eventsDir = join(archiveDir, ARCHIVE_PREFIXES.events);
  if (!hasEventObjects(eventsDir)) {
    const columns = [...duckdbColumns(), ['tenant', 'VARCHAR'], ['dt', 'VARCHAR']];
    return `CREATE TABLE ${AUDIT_EVENTS_TABLE} (${columns.map(([name, type]) => `"${name}" ${type}`).join(', ')})`;
  }
  const spec = `{${duckdbColumns()
    .map(([name, type]) => `${sqlStringLiteral(name)}: ${sqlStringLiteral(type)}`)
    .join(', ')}}`;
  const glob = sqlStringLiteral(join(eventsDir, 'tenant=*', 'dt=*', '*.jsonl.gz'));
  return `CREATE VIEW ${AUDIT_EVENTS_TABLE} AS SELECT * FROM read_json(${glob},
    format = 'newline_delimited', compression = 'gzip', columns = ${spec},
    hive_partitioning = true, hive_types = {'tenant': 'VARCHAR', 'dt': 'VARCHAR'})`;
}

function hasEventObjects(eventsDir: string): boolean {
  try {
    return readdirSync(eventsDir, { recursive: true }).some((name) => String(name).endsWith('.jsonl.gz'));
  } catch {
    return false;
  }
}

/** Partition filter for copying only what a query can read: tenant (or all) and dt within bounds. */
export interface PartitionFilter {
  readonly tenant: string;
  readonly fromPartition: string;
  readonly toPartition: string;
}

/** The partitions a bound query reads (its lowest `dt` bound is `since`'s when it has one). */
export function partitionFilter(bound: BoundQuery): PartitionFilter {
  const lowest = bound.values.since ?? bound.values.from!;
  const day = (iso: string, shift: number) => new Date(Date.parse(iso) + shift).toISOString().slice(0, 10);
  return {
    tenant: bound.values.tenant ?? '*',
    fromPartition: day(lowest, -86_400_000),
    toPartition: day(bound.values.to!, -1),
  };
}

const EVENTS_KEY = /^events\/tenant=([^/]+)\/dt=(\d{4}-\d{2}-\d{2})\/[^/]+\.jsonl\.gz$/;

/**
 * Copies the events objects a query needs from an archive store (S3) into a temporary directory with the
 * same layout; returns it and a cleanup function.
 */
export async function copyEventsLocally(
  store: ArchiveStore,
  filter: PartitionFilter,
): Promise<{ dir: string; cleanup: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'audit-report-'));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  try {
    const prefix =
      filter.tenant === '*' ? ARCHIVE_PREFIXES.events : `${ARCHIVE_PREFIXES.events}tenant=${filter.tenant}/`;
    for await (const key of store.list(prefix)) {
      const match = EVENTS_KEY.exec(key);
      if (!match || match[2]! < filter.fromPartition || match[2]! > filter.toPartition) continue;
      const body = await store.get(key);
      if (!body) continue;
      const target = join(dir, ...key.split('/'));
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, body);
    }
    return { dir, cleanup };
  } catch (error) {
    cleanup();
    throw error;
  }
}
