import { constants, randomBytes, verify, type KeyObject } from 'node:crypto';
import { p256 } from '@noble/curves/nist.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { SignerError, invalidField } from '../domain/errors.js';
import { JWT_ALGORITHM_INFO, type JwtAlgorithm } from '../domain/jwt.js';
import { KEY_TYPE_INFO } from '../domain/key-types.js';
import { publicKeyObject } from '../domain/public-key.js';
import { lowSFromRaw, scalarBytes } from './ecdsa.js';
import { parseStrictJson } from './strict-json.js';
import type { Scheme } from './scheme.js';

export interface JwtRequest {
  /** The claims as JSON; the service adds iat, jti and exp when they are missing. */
  claimsJson: string;
  algorithm: JwtAlgorithm;
  /** Seconds-resolution clock for iat. */
  nowMs: number;
  defaultTtlMs: number;
  /** The policy's max_ttl, when one governs the key: a default exp never goes past it. */
  maxTtlMs?: number;
}

export interface SignedJwt {
  token: string;
  kid: string;
  /** exp, in ms. */
  expiresAtMs: number;
}

interface Decoded {
  signingInput: string;
  algorithm: JwtAlgorithm;
  kid: string;
  expMs: number;
}

const MAX_CLAIMS_BYTES = 16 * 1024;
const MAX_CLAIMS_DEPTH = 32;
// A verifier that copies claims into a plain object (Object.assign, a naive merge) lets these rewrite prototypes.
const FORBIDDEN_CLAIM_NAMES: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);
const NUMERIC_DATES = ['exp', 'nbf', 'iat'] as const;
// 9999-12-31T23:59:59Z. Later dates have no ISO 8601 time for the reply, and an exp that far
// out would keep the key version in the JWKS forever.
const MAX_NUMERIC_DATE = 253_402_300_799;
const b64u = (data: string | Uint8Array) => Buffer.from(data).toString('base64url');

/** Compact JWS (RFC 7515) with alg and kid set by the service, never by the caller. */
export const jwtScheme: Scheme<JwtRequest, Decoded, SignedJwt> = {
  name: 'jwt',
  keyTypes: ['p256', 'ed25519', 'rsa2048', 'rsa3072'],
  secretResult: true,
  prepare(request, key) {
    if (!key.kid) throw new SignerError('WRONG_KEY_TYPE', `key "${key.name}" has no active JWT version`, 'key_name');
    const info = JWT_ALGORITHM_INFO[request.algorithm];
    if (!info.keyTypes.includes(key.type)) throw new SignerError('WRONG_KEY_TYPE', `${request.algorithm} cannot be used with a ${key.type} key`, 'key_name');
    const claims = parseClaims(request.claimsJson);
    const now = Math.floor(request.nowMs / 1000);
    claims.iat ??= now;
    claims.jti ??= b64u(randomBytes(16));
    claims.exp ??= defaultExp(claims.iat as number, now, request);
    if ((claims.exp as number) <= now) throw invalidField('claims_json.exp', 'is in the past');
    const header = { alg: request.algorithm, kid: key.kid, typ: 'JWT' };
    const signingInput = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(claims))}`;
    const input = new TextEncoder().encode(signingInput);
    const tokenBytes = signingInput.length + 1 + Math.ceil((signatureBytes(request.algorithm, key.type) * 4) / 3);
    return {
      decoded: { signingInput, algorithm: request.algorithm, kid: key.kid, expMs: (claims.exp as number) * 1000 },
      intent: { scheme: 'jwt', claims, tokenBytes, now },
      mechanism: info.mechanism,
      input: info.prehashSha256 ? sha256(input) : input,
      fingerprint: `${request.algorithm}|${request.claimsJson}`,
    };
  },
  finish({ decoded }, raw, key) {
    let signature = raw;
    if (decoded.algorithm === 'ES256') {
      // RFC 7518: ES256 is the raw 64-byte r||s.
      const { r, s } = lowSFromRaw(raw, p256.Point.Fn.ORDER);
      signature = new Uint8Array([...scalarBytes(r), ...scalarBytes(s)]);
    }
    if (!verifies(decoded.algorithm, Buffer.from(decoded.signingInput), signature, publicKeyObject(key.publicJwk))) {
      throw new SignerError('HSM_BAD_SIGNATURE', 'HSM signature does not verify against the key');
    }
    return { token: `${decoded.signingInput}.${b64u(signature)}`, kid: decoded.kid, expiresAtMs: decoded.expMs };
  },
  signatureOf: (result) => Buffer.from(result.token.split('.')[2]!, 'base64url'),
};

function parseClaims(json: string): Record<string, unknown> {
  if (json.length === 0) throw invalidField('claims_json', 'is required');
  if (Buffer.byteLength(json) > MAX_CLAIMS_BYTES) throw invalidField('claims_json', `must be at most ${MAX_CLAIMS_BYTES} bytes`);
  const claims = parseStrictJson(json, 'claims_json', { maxDepth: MAX_CLAIMS_DEPTH, exactNumbersOnly: true, forbiddenKeys: FORBIDDEN_CLAIM_NAMES });
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) throw invalidField('claims_json', 'must be a JSON object');
  const record = claims as Record<string, unknown>;
  for (const name of NUMERIC_DATES) {
    const value = record[name];
    if (value !== undefined && !(Number.isSafeInteger(value) && (value as number) >= 0 && (value as number) <= MAX_NUMERIC_DATE)) {
      throw invalidField(`claims_json.${name}`, 'must be a NumericDate: whole seconds since the epoch, at most 253402300799 (the end of 9999)');
    }
  }
  for (const name of ['iss', 'sub', 'jti'] as const) {
    if (record[name] !== undefined && typeof record[name] !== 'string') throw invalidField(`claims_json.${name}`, 'must be a string');
  }
  const aud = record.aud;
  if (aud !== undefined && typeof aud !== 'string' && !(Array.isArray(aud) && aud.every((a) => typeof a === 'string'))) {
    throw invalidField('claims_json.aud', 'must be a string or an array of strings');
  }
  return record;
}

/**
 * iat + the key's default lifetime, but never past the policy's max_ttl (counted from now when iat is
 * in the future, as the policy counts it): a long default must not make every token without exp fail.
 */
function defaultExp(iat: number, now: number, { defaultTtlMs, maxTtlMs }: JwtRequest): number {
  const exp = iat + Math.floor(defaultTtlMs / 1000);
  if (maxTtlMs === undefined) return exp;
  const bound = Math.min(iat, now) + Math.floor(maxTtlMs / 1000);
  // A bound at or before now would only turn the policy's TTL_TOO_LONG into "exp is in the past".
  return bound > now ? Math.min(exp, bound) : exp;
}

function signatureBytes(algorithm: JwtAlgorithm, keyType: keyof typeof KEY_TYPE_INFO): number {
  return algorithm === 'ES256' || algorithm === 'EdDSA' ? 64 : KEY_TYPE_INFO[keyType].rsaBits! / 8;
}

function verifies(algorithm: JwtAlgorithm, data: Buffer, signature: Uint8Array, key: KeyObject): boolean {
  switch (algorithm) {
    case 'ES256':
      return verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature);
    case 'EdDSA':
      return verify(null, data, key, signature);
    case 'RS256':
      return verify('sha256', data, { key, padding: constants.RSA_PKCS1_PADDING }, signature);
    case 'PS256':
      return verify('sha256', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, signature);
  }
}
