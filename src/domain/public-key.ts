import { createPublicKey, type KeyObject } from 'node:crypto';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import type { PublicJwk } from './key.js';
import { KEY_TYPE_INFO, type KeyType } from './key-types.js';

const b64u = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');
const fromB64u = (text: string) => new Uint8Array(Buffer.from(text, 'base64url'));

/** JWK for an uncompressed SEC1 point (0x04 || x || y) on secp256k1 or P-256. */
export function ecPublicJwk(type: KeyType, point: Uint8Array): PublicJwk {
  const crv = KEY_TYPE_INFO[type].jwkCurve;
  if (KEY_TYPE_INFO[type].family !== 'ec' || !crv) throw new TypeError(`${type} is not an EC key type`);
  if (point.length !== 65 || point[0] !== 0x04) throw new TypeError('EC point must be 65 bytes, uncompressed');
  return { kty: 'EC', crv, x: b64u(point.subarray(1, 33)), y: b64u(point.subarray(33)) };
}

export function ed25519PublicJwk(publicKey: Uint8Array): PublicJwk {
  if (publicKey.length !== 32) throw new TypeError('Ed25519 public key must be 32 bytes');
  return { kty: 'OKP', crv: 'Ed25519', x: b64u(publicKey) };
}

export function rsaPublicJwk(modulus: Uint8Array, exponent: Uint8Array): PublicJwk {
  return { kty: 'RSA', n: b64u(stripLeadingZeros(modulus)), e: b64u(stripLeadingZeros(exponent)) };
}

/** The uncompressed SEC1 point of an EC JWK. */
export function ecPoint(jwk: PublicJwk): Uint8Array {
  if (jwk.kty !== 'EC' || !jwk.x || !jwk.y) throw new TypeError('not an EC public JWK');
  return new Uint8Array([0x04, ...fromB64u(jwk.x), ...fromB64u(jwk.y)]);
}

/** EIP-55 checksummed address of a secp256k1 public key. */
export function ethereumAddress(jwk: PublicJwk): string {
  if (jwk.crv !== 'secp256k1') throw new TypeError('Ethereum addresses need a secp256k1 key');
  const hex = bytesToHex(keccak_256(ecPoint(jwk).subarray(1)).subarray(12));
  return toChecksumAddress(hex);
}

/** EIP-55: uppercase each hex letter whose nibble in keccak(lowercase hex) is 8 or more. */
export function toChecksumAddress(hex40: string): string {
  const lower = hex40.toLowerCase();
  const hash = bytesToHex(keccak_256(new TextEncoder().encode(lower)));
  let out = '0x';
  for (let i = 0; i < 40; i++) out += parseInt(hash[i]!, 16) >= 8 ? lower[i]!.toUpperCase() : lower[i]!;
  return out;
}

// Parsing a JWK into a KeyObject costs more than the verification it serves: keep the recent ones.
const MAX_CACHED_KEYS = 1024;
const keyObjects = new Map<string, KeyObject>();

/** A Node KeyObject for verifying with OpenSSL (cached per public key). */
export function publicKeyObject(jwk: PublicJwk): KeyObject {
  const id = `${jwk.kty}|${jwk.crv ?? ''}|${jwk.x ?? jwk.n}|${jwk.y ?? ''}`;
  let key = keyObjects.get(id);
  if (!key) {
    key = createPublicKey({ key: { ...jwk }, format: 'jwk' });
    if (keyObjects.size >= MAX_CACHED_KEYS) keyObjects.delete(keyObjects.keys().next().value!);
    keyObjects.set(id, key);
  }
  return key;
}

/** SubjectPublicKeyInfo, DER. */
export function spkiDer(jwk: PublicJwk): Uint8Array {
  return new Uint8Array(publicKeyObject(jwk).export({ type: 'spki', format: 'der' }));
}

function stripLeadingZeros(bytes: Uint8Array): Uint8Array {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  return bytes.subarray(i);
}
