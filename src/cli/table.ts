/**
 * Plain-text tables for people. Scripts use `--json` instead: these layouts may change.
 * Columns are separated by two spaces; an empty cell shows as "-" so that columns stay countable.
 */

import { oneLine } from './terminal-text.js';

const GAP = '  ';

function cell(value: string | number | undefined): string {
  const text = value === undefined ? '' : String(value);
  // One record, one line: a newline inside a cell would break every column after it.
  return text === '' ? '-' : oneLine(text);
}

/** A header row and rows, each column as wide as its widest cell. Ends with a newline. */
export function formatTable(header: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number | undefined>>): string {
  const lines = [header.map(cell), ...rows.map((row) => row.map(cell))];
  const widths = header.map((_, column) => Math.max(...lines.map((line) => (line[column] ?? '').length)));
  return lines.map((line) => formatRow(widths, line)).join('\n') + '\n';
}

/** `label: value` lines with the values aligned, for one record. Ends with a newline. */
export function formatFields(fields: ReadonlyArray<readonly [string, string | number | undefined]>, indent = '  '): string {
  const width = Math.max(...fields.map(([label]) => label.length)) + 1;
  return fields.map(([label, value]) => `${indent}${`${label}:`.padEnd(width)} ${cell(value)}`).join('\n') + '\n';
}

/**
 * One row with fixed column widths, for output that streams (rows are printed before the widest
 * is known). A cell wider than its column pushes the rest right rather than being cut.
 */
export function formatRow(widths: readonly number[], cells: ReadonlyArray<string | number | undefined>): string {
  return cells
    .map(cell)
    .map((text, column) => (column === cells.length - 1 ? text : text.padEnd(widths[column] ?? 0)))
    .join(GAP);
}
