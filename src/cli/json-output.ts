/**
 * `--json` output for scripts. A command prints one JSON document (an array for lists); commands
 * that follow a stream (`watch`, `tail`, `export`) print JSON lines. Bytes appear as 0x hex, not as
 * Node's {"type":"Buffer","data":[...]}.
 */
import { escapeJsonText } from './terminal-text.js';

function replacer(this: Record<string, unknown>, key: string, value: unknown): unknown {
  // JSON.stringify has already called Buffer#toJSON on `value`; the holder still has the original.
  const original = this[key];
  if (original instanceof Uint8Array) return '0x' + Buffer.from(original).toString('hex');
  if (typeof original === 'bigint') return original.toString();
  return value;
}

export function toJson(value: unknown, indent?: number): string {
  return escapeJsonText(JSON.stringify(value, replacer, indent));
}

/** One JSON document, indented for the people who read it too. */
export function printJson(value: unknown): void {
  process.stdout.write(toJson(value, 2) + '\n');
}

/** One JSON value per line: for output that streams. */
export function printJsonLine(value: unknown): void {
  process.stdout.write(toJson(value) + '\n');
}
