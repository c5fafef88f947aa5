import { createHash } from 'node:crypto';
import type { PublicJwk } from './key.js';
import type { KeyType, SignMechanism } from './key-types.js';

/** The one table for JWT algorithms: nothing else switches on `alg`. No `none`, no HMAC. */
export const JWT_ALGORITHMS = ['ES256', 'EdDSA', 'RS256', 'PS256'] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

export interface JwtAlgorithmInfo {
  keyTypes: readonly KeyType[];
  /** The key type a new version gets. */
  defaultKeyType: KeyType;
  mechanism: SignMechanism;
  /** ES256 signs SHA-256(signing input) with CKM_ECDSA; the others take the signing input itself. */
  prehashSha256: boolean;
}

export const JWT_ALGORITHM_INFO: Readonly<Record<JwtAlgorithm, JwtAlgorithmInfo>> = {
  ES256: { keyTypes: ['p256'], defaultKeyType: 'p256', mechanism: 'ecdsa-digest', prehashSha256: true },
  EdDSA: { keyTypes: ['ed25519'], defaultKeyType: 'ed25519', mechanism: 'eddsa', prehashSha256: false },
  RS256: { keyTypes: ['rsa2048', 'rsa3072'], defaultKeyType: 'rsa2048', mechanism: 'rsa-pkcs1-sha256', prehashSha256: false },
  PS256: { keyTypes: ['rsa2048', 'rsa3072'], defaultKeyType: 'rsa2048', mechanism: 'rsa-pss-sha256', prehashSha256: false },
};

export function isJwtAlgorithm(value: string): value is JwtAlgorithm {
  return (JWT_ALGORITHMS as readonly string[]).includes(value);
}

/** RFC 7638 JWK thumbprint (SHA-256, base64url): the `kid` of a version, unique to its key. */
export function jwkThumbprint(jwk: PublicJwk): string {
  const members =
    jwk.kty === 'EC'
      ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }
      : jwk.kty === 'OKP'
        ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x }
        : { e: jwk.e, kty: jwk.kty, n: jwk.n };
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

/** Lifecycle of a JWT key version. */
export type VersionState = 'published' | 'active' | 'retiring' | 'retired';

export interface JwtKeySettings {
  algorithm: JwtAlgorithm;
  /** Rotate automatically this long after a version became active (0: manual only). */
  rotationPeriodMs: number;
  /** A new version is in the JWKS at least this long before it signs; also the JWKS max-age. */
  publishAheadMs: number;
  /** Extra time a retiring version stays in the JWKS after its last token can have expired. */
  graceMs: number;
  /** Allowed clock difference between us and verifiers. */
  clockSkewMs: number;
  /** `exp` when the caller sends none: iat + this. */
  defaultTtlMs: number;
}

export interface KeyVersion {
  keyName: string;
  version: number;
  hsmId: string;
  publicJwk: PublicJwk;
  kid: string;
  state: VersionState;
  publishedAt: number;
  activatedAt?: number;
  retiringAt?: number;
  retiredAt?: number;
  /** The latest `exp` of any token this version signed (ms). */
  lastExpMs?: number;
}
