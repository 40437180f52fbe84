import { escapeText } from '../escape.ts';
import type { Cell, ReportResult } from './result.ts';

const MAX_CELL = 80;

/** A cell as shown to a person: escaped (no control, ANSI or bidi character reaches the terminal), capped. */
function showCell(cell: Cell): string {
  if (cell === null) return '';
  const text = escapeText(cell);
  return text.length > MAX_CELL ? `${text.slice(0, MAX_CELL - 1)}…` : text;
}

/** An aligned text table; numbers right-aligned. Returns the lines (already escaped). */
export function formatTable(result: ReportResult): string[] {
  const header = result.columns.map((column) => escapeText(column));
  const body = result.rows.map((row) => result.columns.map((column) => showCell(row[column] ?? null)));
  const widths = header.map((title, i) => Math.max(title.length, ...body.map((cells) => cells[i]!.length)));
  const numeric = result.columns.map(
    (column) =>
      result.rows.length > 0 &&
      result.rows.every((row) => typeof row[column] === 'number' || row[column] === null),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (numeric[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((width) => '-'.repeat(width)).join('  '), ...body.map(line)];
}

/**
 * RFC 4180 CSV. Cells are escaped like the table (stored text is attacker-influenced), and a cell that a
 * spreadsheet would run as a formula (= + - @ at the start) gets a leading apostrophe.
 */
export function formatCsv(result: ReportResult): string {
  const quote = (cell: Cell) => {
    if (cell === null) return '';
    let text = escapeText(cell);
    if (typeof cell === 'string' && /^[=+\-@]/.test(text)) text = `'${text}`;
    return /[",\n\r]/.test(text) || text !== text.trim() ? `"${text.replaceAll('"', '""')}"` : text;
  };
  const lines = [
    result.columns.map(quote),
    ...result.rows.map((row) => result.columns.map((column) => quote(row[column] ?? null))),
  ];
  return lines.map((cells) => `${cells.join(',')}\r\n`).join('');
}
