import type { KeyRecord } from '../domain/key.js';
import type { KeyType, SignMechanism } from '../domain/key-types.js';

/** What a scheme hands to the signing path: the decoded intent and exactly what the HSM signs. */
export interface Prepared<Intent> {
  /** The decoded request, as policy and audit see it. */
  intent: Intent;
  mechanism: SignMechanism;
  /** The 32-byte digest for `ecdsa-digest`; the whole message otherwise. */
  input: Uint8Array;
}

/**
 * One row per scheme: typed request -> decoded intent + what to sign; HSM output -> finished result.
 * `finish` verifies the HSM's signature and throws HSM_BAD_SIGNATURE rather than release a bad one.
 */
export interface Scheme<Request, Intent, Result> {
  readonly name: string;
  readonly keyTypes: readonly KeyType[];
  prepare(request: Request, key: KeyRecord): Prepared<Intent>;
  finish(prepared: Prepared<Intent>, signature: Uint8Array, key: KeyRecord): Result;
}
