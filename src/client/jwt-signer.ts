import type { SignJwtResponse__Output } from '../api/generated/signer/v1/SignJwtResponse.js';
import type { RemoteSignerClient } from './signer-client.js';

/** The service's default JWKS listener port (`--jwks-address 127.0.0.1:50052`). */
export const DEFAULT_JWKS_PORT = 50052;
export const JWKS_PATH = '/.well-known/jwks.json';

export interface RemoteJwtSignerOptions {
  /**
   * The JWKS URL verifiers should use. Default: the service's default HTTP listener on the gRPC
   * address's host (`http://<host>:50052/.well-known/jwks.json`); set it when the service runs with
   * another `--jwks-address` or behind a public URL (`--jwt-issuer`).
   */
  jwksUrl?: string;
}

export interface SignJwtOptions {
  /** Sets `exp` to now plus this many seconds (else the claims' `exp`, else the key's default TTL). */
  expiresInSeconds?: number;
}

export interface SignedJwt {
  /** The compact JWS. Treat it as a credential: do not log it. */
  token: string;
  /** The key version that signed it; the JWKS lists it under this kid. */
  kid: string;
  expiresAt: Date;
}

/**
 * JWTs for backends: the service adds `alg` and `kid` of the key's active version (and `iat`, `jti`,
 * and a bounded `exp` when missing) and checks the claims against the key's policy.
 */
export class RemoteJwtSigner {
  constructor(
    private readonly client: RemoteSignerClient,
    readonly keyName: string,
    private readonly options: RemoteJwtSignerOptions = {},
  ) {}

  /** Give this to verifiers (e.g. jose's createRemoteJWKSet): it lists every version that may have signed a live token. */
  get jwksUrl(): string {
    return this.options.jwksUrl ?? defaultJwksUrl(this.client.address);
  }

  async signJwt(claims: Record<string, unknown>, options: SignJwtOptions = {}): Promise<SignedJwt> {
    if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) throw new TypeError('claims must be a JSON object');
    const { expiresInSeconds } = options;
    if (expiresInSeconds !== undefined && !(Number.isSafeInteger(expiresInSeconds) && expiresInSeconds > 0)) {
      throw new RangeError(`expiresInSeconds must be a positive whole number of seconds (got ${expiresInSeconds})`);
    }
    const withExpiry = expiresInSeconds === undefined ? claims : { ...claims, exp: Math.floor(Date.now() / 1000) + expiresInSeconds };
    // No request_id: the service adds iat and a random jti before it compares a retry with the first
    // request, so a SignJwt retry with the same id is refused as a different request.
    const response = await this.client.call<SignJwtResponse__Output>('SignJwt', { keyName: this.keyName, claimsJson: JSON.stringify(withExpiry) });
    return { token: response.token, kid: response.kid, expiresAt: new Date(response.expireTime) };
  }
}

/** `http://<host>:50052/.well-known/jwks.json` for a gRPC address `host:port` or `[v6]:port`. */
export function defaultJwksUrl(grpcAddress: string): string {
  const host = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/.exec(grpcAddress)?.[1];
  if (!host) throw new Error(`cannot derive the JWKS URL from the gRPC address ${JSON.stringify(grpcAddress)}: set options.jwksUrl`);
  return `http://${host}:${DEFAULT_JWKS_PORT}${JWKS_PATH}`;
}
