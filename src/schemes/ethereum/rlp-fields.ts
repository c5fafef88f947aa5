import { RLP, type NestedUint8Array } from '@ethereumjs/rlp';
import { bytesToHex } from '@noble/hashes/utils.js';
import { invalidField } from '../../domain/errors.js';

export type RlpItem = Uint8Array | NestedUint8Array;

/**
 * Decodes exactly one canonical RLP item with no trailing bytes (@ethereumjs/rlp is strict about
 * canonical lengths, single-byte prefixes and leading zeros in lengths).
 */
export function decodeRlp(bytes: Uint8Array, field: string): RlpItem {
  if (listDepth(bytes, MAX_RLP_DEPTH) > MAX_RLP_DEPTH) throw invalidField(field, `is not valid canonical RLP: lists nest deeper than ${MAX_RLP_DEPTH}`);
  try {
    return RLP.decode(bytes);
  } catch (error) {
    // Deep nesting can exhaust the stack: that is bad input, not an internal error.
    const reason = error instanceof RangeError ? 'nesting is too deep' : (error as Error).message;
    throw invalidField(field, `is not valid canonical RLP: ${reason}`);
  }
}

/** Transactions nest lists 4 deep (transaction, access list, entry, storage keys); this leaves room. */
export const MAX_RLP_DEPTH = 16;

/**
 * How deep lists nest, reading only headers, without recursion, stopping past `limit`. The decoder
 * copies each list's payload once per level, so deep nesting would cost time quadratic in the input
 * (about 2 s for 230 kB) before its stack ran out. Malformed headers are left to the decoder.
 */
function listDepth(bytes: Uint8Array, limit: number): number {
  const ends: number[] = [];
  let deepest = 0;
  for (let at = 0; at < bytes.length; ) {
    while (ends.length && at >= ends[ends.length - 1]!) ends.pop();
    const first = bytes[at]!;
    if (first < 0x80) {
      at += 1;
      continue;
    }
    const isList = first >= 0xc0;
    const base = isList ? 0xc0 : 0x80;
    let headerLength = 1;
    let payloadLength = first - base;
    if (payloadLength > 55) {
      const lengthBytes = payloadLength - 55;
      headerLength += lengthBytes;
      payloadLength = 0;
      for (let i = 1; i <= lengthBytes; i++) payloadLength = payloadLength * 256 + (bytes[at + i] ?? 0);
    }
    if (!isList) {
      at += headerLength + payloadLength;
      continue;
    }
    ends.push(at + headerLength + payloadLength);
    deepest = Math.max(deepest, ends.length);
    if (deepest > limit) break;
    at += headerLength;
  }
  return deepest;
}

export function asList(item: RlpItem | undefined, field: string): NestedUint8Array {
  if (!Array.isArray(item)) throw invalidField(field, 'must be an RLP list');
  return item;
}

export function asBytes(item: RlpItem | undefined, field: string): Uint8Array {
  if (!(item instanceof Uint8Array)) throw invalidField(field, 'must be an RLP byte string, not a list');
  return item;
}

/** An unsigned integer: minimal big-endian bytes (no leading zero), at most `maxBytes` long. */
export function asUint(item: RlpItem | undefined, field: string, maxBytes = 32): bigint {
  const bytes = asBytes(item, field);
  if (bytes.length > maxBytes) throw invalidField(field, `must fit in ${maxBytes * 8} bits`);
  if (bytes.length > 0 && bytes[0] === 0) throw invalidField(field, 'must not have leading zero bytes');
  return bytes.length === 0 ? 0n : BigInt('0x' + bytesToHex(bytes));
}

/** A 20-byte address as lowercase 0x hex. */
export function asAddress(item: RlpItem | undefined, field: string): string {
  const bytes = asBytes(item, field);
  if (bytes.length !== 20) throw invalidField(field, `must be a 20-byte address, got ${bytes.length} bytes`);
  return '0x' + bytesToHex(bytes);
}

/** Minimal big-endian bytes of a non-negative integer, as RLP wants for scalars. */
export function uintBytes(value: bigint): Uint8Array {
  if (value === 0n) return new Uint8Array(0);
  const hex = value.toString(16);
  return Uint8Array.from(Buffer.from(hex.length % 2 ? '0' + hex : hex, 'hex'));
}
