/**
 * Text that callers and approvers supplied (reasons, labels, request ids, claims) reaches an
 * operator's terminal through this CLI. A terminal obeys what it is sent: ANSI escape sequences can
 * clear the screen, rewrite earlier lines or set the window title; a carriage return or newline can
 * forge a line ("approvals: 2/2"); bidi overrides can make 0xabc...def read as 0xfed...cba. So every
 * byte the CLI prints passes through here, and none of these reach the terminal.
 */

/** CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), and two-byte ESC sequences, each removed whole. */
const ESCAPE_SEQUENCE = /\u001b\[[0-?]*[ -/]*[@-~]?|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)?|\u009b[0-?]*[ -/]*[@-~]?|\u009d[^\u0007\u009c]*[\u0007\u009c]?|\u001b[ -~]?/g;

/**
 * C0 controls but tab and newline, DEL, C1 controls, bidi marks, embeddings, overrides and isolates
 * (U+061C, U+200E-F, U+202A-E, U+2066-9), and the Unicode line and paragraph separators.
 */
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** The same characters, for JSON: escaped as \uXXXX, so the value is unchanged for a parser. */
const RAW_IN_JSON = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** Output the CLI wrote itself, with any supplied text inside it made harmless; newlines and tabs stay. */
export function terminalSafe(text: string): string {
  return text.replace(ESCAPE_SEQUENCE, '').replace(UNSAFE, '');
}

/** One supplied value on one line: also turns newlines and tabs into spaces, so it cannot forge a line. */
export function oneLine(value: string): string {
  return terminalSafe(value).replace(/[\t\n]+/g, ' ');
}

/** JSON text with the characters JSON.stringify leaves raw (DEL, C1, bidi) written as \u escapes. */
export function escapeJsonText(json: string): string {
  return json.replace(RAW_IN_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

type Write = typeof process.stdout.write;

/**
 * Routes every write to `stream` through terminalSafe: the one gate for standard output, so no
 * command can forget it. Standard error is not gated (progress bars draw with \r); its messages
 * are cleaned where they are made.
 */
export function guardStream(stream: NodeJS.WriteStream): void {
  const write = stream.write.bind(stream) as (chunk: unknown, ...rest: unknown[]) => boolean;
  stream.write = ((chunk: unknown, ...rest: unknown[]) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) || chunk instanceof Uint8Array ? Buffer.from(chunk).toString('utf8') : chunk;
    return write(typeof text === 'string' ? terminalSafe(text) : text, ...rest);
  }) as Write;
}
