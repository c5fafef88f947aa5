import type { SchemeName, SignIntent } from '../domain/intent.js';
import type { KeyRecord } from '../domain/key.js';
import type { KeyType, SignMechanism } from '../domain/key-types.js';

/** What a scheme hands to the signing path: the decoded request and exactly what the HSM signs. */
export interface Prepared<Decoded> {
  /** The scheme's own decoding, which `finish` needs. */
  decoded: Decoded;
  /** The meaning of the request, as policy and audit see it. */
  intent: SignIntent;
  mechanism: SignMechanism;
  /** The 32-byte digest for `ecdsa-digest`; the whole message otherwise. */
  input: Uint8Array;
  /**
   * What makes a retry "the same request" when `input` holds values the service chose itself (a JWT's
   * iat and jti): the request as received. Unset, `input` is the fingerprint.
   */
  fingerprint?: string;
}

/**
 * One row per scheme: typed request -> decoded intent + what to sign; HSM output -> finished result.
 * `finish` verifies the HSM's signature and throws HSM_BAD_SIGNATURE rather than release a bad one.
 */
export interface Scheme<Request, Decoded, Result> {
  readonly name: SchemeName;
  readonly keyTypes: readonly KeyType[];
  prepare(request: Request, key: KeyRecord): Prepared<Decoded>;
  finish(prepared: Prepared<Decoded>, signature: Uint8Array, key: KeyRecord): Result;
  /** The result is a bearer secret (a JWT): kept for replay only sealed under the HSM's at-rest key. */
  readonly secretResult?: boolean;
  /** The released signature's bytes, whose hash the audit log records. */
  signatureOf(result: Result): Uint8Array;
}
