import { bytesToHex } from '@noble/hashes/utils.js';
import { SignerError } from '../domain/errors.js';

export interface EcdsaSignature {
  r: bigint;
  s: bigint;
}

/**
 * Splits CKM_ECDSA output (raw r||s, never DER) and normalises s to the lower half of the group
 * order: about half of SoftHSM's signatures are high-s, which Ethereum rejects (EIP-2).
 */
export function lowSFromRaw(raw: Uint8Array, order: bigint): EcdsaSignature {
  if (raw.length !== 64) throw new SignerError('HSM_BAD_SIGNATURE', `HSM returned a ${raw.length}-byte ECDSA signature, expected 64`);
  const r = BigInt('0x' + bytesToHex(raw.subarray(0, 32)));
  let s = BigInt('0x' + bytesToHex(raw.subarray(32)));
  if (r <= 0n || r >= order || s <= 0n || s >= order) {
    throw new SignerError('HSM_BAD_SIGNATURE', 'HSM returned an ECDSA signature out of range');
  }
  if (s > order >> 1n) s = order - s;
  return { r, s };
}

/** 32-byte big-endian encoding of a scalar. */
export function scalarBytes(value: bigint): Uint8Array {
  return Uint8Array.from(Buffer.from(value.toString(16).padStart(64, '0'), 'hex'));
}
