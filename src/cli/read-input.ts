/**
 * The payload of a command: the flag's value, or everything on standard input when the flag is
 * absent (so `cat tx.hex | signer sign tx KEY` works). A terminal on stdin is never read from:
 * nobody would know the command is waiting.
 */
export async function flagOrStdin(value: string | undefined, flag: string): Promise<string> {
  if (value !== undefined) return value;
  if (process.stdin.isTTY) throw new Error(`give ${flag}, or pipe the input on standard input`);
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') throw new Error(`standard input is empty: give ${flag}, or pipe the input`);
  return text;
}

/** 0x hex (whitespace around it ignored) as bytes; the error names the flag. */
export function hexInput(text: string, flag: string): Uint8Array {
  const trimmed = text.trim();
  if (!/^0x([0-9a-fA-F]{2})+$/.test(trimmed)) throw new Error(`${flag} expected 0x-prefixed hex with an even number of digits`);
  return Uint8Array.from(Buffer.from(trimmed.slice(2), 'hex'));
}

/** A JSON object, as text the service will parse itself; checked here so the error names the flag. */
export function jsonObjectInput(text: string, flag: string): string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`${flag} is not JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${flag} expected a JSON object`);
  return text.trim();
}
