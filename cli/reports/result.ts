/** A report's output, the same shape from every engine so table, CSV and JSON read alike. */
export type Cell = string | number | boolean | null;
export type ReportRow = Record<string, Cell>;

export interface ReportResult {
  readonly columns: readonly string[];
  readonly rows: readonly ReportRow[];
}

/** Engine values to JSON-safe cells: 64-bit integers become numbers while exact, strings beyond that. */
export function toCell(value: unknown): Cell {
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint') {
    return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER)
      ? Number(value)
      : value.toString();
  }
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'string') return value;
  return String(value);
}
