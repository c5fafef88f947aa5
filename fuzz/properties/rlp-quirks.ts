/**
 * An RLP encoder that can also write what canonical RLP forbids, to feed decoders the encodings
 * a lenient parser would accept: long-form lengths for short items, lengths with leading zero
 * bytes, and single bytes below 0x80 wrapped in a string header.
 */

export type RlpTree = Uint8Array | RlpTree[];

export const QUIRKS = ['canonical', 'longFormLength', 'zeroPaddedLength', 'wrappedSingleByte'] as const;
export type Quirk = (typeof QUIRKS)[number];

/** Encodes `item`, taking one quirk per header from `quirks` in turn (all canonical when empty). */
export function encodeWithQuirks(item: RlpTree, quirks: readonly Quirk[] = []): Uint8Array {
  let next = 0;
  const quirk = (): Quirk => (quirks.length ? quirks[next++ % quirks.length]! : 'canonical');
  const encode = (node: RlpTree): Uint8Array => {
    if (node instanceof Uint8Array) {
      const how = quirk();
      if (node.length === 1 && node[0]! < 0x80 && how !== 'wrappedSingleByte') return node;
      return concat(header(0x80, node.length, how), node);
    }
    const payload = concat(...node.map(encode));
    return concat(header(0xc0, payload.length, quirk()), payload);
  };
  return encode(item);
}

function header(offset: number, length: number, how: Quirk): Uint8Array {
  if (length < 56 && (how === 'canonical' || how === 'wrappedSingleByte')) return Uint8Array.of(offset + length);
  const lengthBytes = bigEndian(length);
  const padded = how === 'zeroPaddedLength' ? Uint8Array.of(0, ...lengthBytes) : lengthBytes;
  return Uint8Array.of(offset + 55 + padded.length, ...padded);
}

function bigEndian(value: number): Uint8Array {
  const bytes: number[] = [];
  for (let rest = value; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Uint8Array.from(bytes.length ? bytes : [0]);
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  return concatAll(parts);
}

/** `concat` for more parts than a call can take as arguments. */
export function concatAll(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** An encoded item inside `depth` canonically nested lists, written from the inside out without recursion. */
export function wrapInLists(encoded: Uint8Array, depth: number): Uint8Array {
  // A header is at most 4 bytes here (lengths below 2^24).
  const out = new Uint8Array(encoded.length + depth * 4);
  let start = out.length - encoded.length;
  out.set(encoded, start);
  for (let i = 0; i < depth; i++) {
    const h = header(0xc0, out.length - start, 'canonical');
    start -= h.length;
    out.set(h, start);
  }
  return out.subarray(start);
}

/** `depth` nested empty lists. */
export const nestedLists = (depth: number) => wrapInLists(Uint8Array.of(0xc0), depth - 1);
