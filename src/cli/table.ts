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

/** An RFC 3339 time as narrow tables show it: "2026-12-03 13:07" (UTC, to the minute); --wide shows it whole. */
export function tableTime(iso: string | undefined, wide?: boolean): string | undefined {
  if (!iso || wide) return iso;
  const match = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d)/.exec(iso);
  return match ? `${match[1]} ${match[2]}` : iso;
}

/** How wide a table may be: the terminal's width, 80 columns when output is not a terminal, none with --wide. */
export function tableWidth(wide: boolean | undefined, output: { isTTY?: boolean; columns?: number } = process.stdout): number {
  if (wide) return Infinity;
  return output.isTTY && output.columns ? output.columns : 80;
}

/**
 * A header row and rows, each column as wide as its widest cell, within `maxWidth` columns: the
 * widest columns give way first (never below their header), and a cut cell ends in "…" (hex is cut
 * in the middle, keeping both ends recognisable). Columns listed in `uncut` (times, states,
 * counts: a cut one says nothing) keep their width. `--wide` passes Infinity. Ends with a newline.
 */
export function formatTable(
  header: readonly string[],
  rows: ReadonlyArray<ReadonlyArray<string | number | undefined>>,
  maxWidth = Infinity,
  uncut: readonly number[] = [],
): string {
  const lines = [header.map(cell), ...rows.map((row) => row.map(cell))];
  const natural = header.map((_, column) => Math.max(...lines.map((line) => (line[column] ?? '').length)));
  const minimum = header.map((h, column) => (uncut.includes(column) ? natural[column]! : Math.min(natural[column]!, Math.max(h.length, 4))));
  const widths = fitWidths(natural, minimum, maxWidth);
  return lines.map((line) => formatRow(widths, line.map((text, column) => shorten(text, widths[column]!)))).join('\n') + '\n';
}

/** Narrows the widest columns one character at a time until the row fits (or every column is at its minimum). */
function fitWidths(natural: readonly number[], minimum: readonly number[], maxWidth: number): number[] {
  const widths = [...natural];
  const total = () => widths.reduce((sum, w) => sum + w, 0) + GAP.length * (widths.length - 1);
  while (total() > maxWidth) {
    let widest = -1;
    widths.forEach((w, column) => {
      if (w > minimum[column]! && (widest < 0 || w > widths[widest]!)) widest = column;
    });
    if (widest < 0) break;
    widths[widest]!--;
  }
  return widths;
}

/** `text` in at most `width` characters. */
export function shorten(text: string, width: number): string {
  if (text.length <= width) return text;
  if (width < 2) return text.slice(0, width);
  if (/^0x[0-9a-fA-F]+$/.test(text) && width >= 9) {
    const tail = Math.floor((width - 1) / 2);
    return `${text.slice(0, width - 1 - tail)}…${text.slice(text.length - tail)}`;
  }
  // "send 6 ether to 0x5aAe…1BeAed": cut inside the longest hex run first, keeping both of its ends.
  const hex = [...text.matchAll(/0x[0-9a-fA-F]{12,}/g)].sort((a, b) => b[0].length - a[0].length)[0];
  if (hex) {
    const excess = text.length - width + 1;
    const keep = hex[0].length - excess;
    if (keep >= 10) {
      const start = hex.index! + Math.ceil(keep / 2);
      return `${text.slice(0, start)}…${text.slice(start + excess)}`;
    }
  }
  return `${text.slice(0, width - 1)}…`;
}

/** `label: value` lines with the values aligned, for one record. Ends with a newline. */
export function formatFields(fields: ReadonlyArray<readonly [string, string | number | undefined]>, indent = '  '): string {
  const width = Math.max(...fields.map(([label]) => label.length)) + 1;
  return fields.map(([label, value]) => `${indent}${`${label}:`.padEnd(width)} ${cell(value)}`).join('\n') + '\n';
}

/**
 * One row with fixed column widths, for output that streams (rows are printed before the widest
 * is known). A cell wider than its column pushes the rest right, unless `cut` shortens it to fit.
 */
export function formatRow(widths: readonly number[], cells: ReadonlyArray<string | number | undefined>, cut = false): string {
  return cells
    .map(cell)
    .map((text, column) => (cut && widths[column] ? shorten(text, widths[column]!) : text))
    .map((text, column) => (column === cells.length - 1 ? text : text.padEnd(widths[column] ?? 0)))
    .join(GAP);
}
