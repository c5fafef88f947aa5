import { createRequire } from 'node:module';
import { SignerError } from '../../domain/errors.js';
import type { PublicJwk } from '../../domain/key.js';
import { ecPoint } from '../../domain/public-key.js';
import { lowSFromRaw, scalarBytes } from '../ecdsa.js';
import type { EcdsaRecoverable } from './transaction.js';

// libsecp256k1 through its native binding only: the package's pure-JS fallback (elliptic) is ten times
// slower, and a missing binding should fail at start rather than quietly cap throughput.
const native = createRequire(import.meta.url)('secp256k1/bindings') as typeof import('secp256k1');

// secp256k1's group order n.
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

/**
 * Turns raw CKM_ECDSA output into a low-s signature with its recovery bit, verifying it on the way.
 *
 * Recovering the public key with recovery id 0, then 1, and comparing it with the key's own proves the
 * signature valid and yields the bit in one step: about 90 µs natively, against about 460 µs for one
 * pure-JS double multiplication with precomputed tables (measured here).
 */
export function finishSecp256k1(digest: Uint8Array, raw: Uint8Array, publicJwk: PublicJwk): EcdsaRecoverable {
  const { r, s } = lowSFromRaw(raw, N);
  const compact = new Uint8Array(64);
  compact.set(scalarBytes(r), 0);
  compact.set(scalarBytes(s), 32);
  const expected = Buffer.from(ecPoint(publicJwk));
  for (const yParity of [0, 1] as const) {
    let recovered: Uint8Array;
    try {
      recovered = native.ecdsaRecover(compact, yParity, digest, false);
    } catch {
      continue; // No point for this id: try the other one.
    }
    if (expected.equals(recovered)) return { r, s, yParity };
  }
  // x(R) >= n would need recovery id 2 or 3, which Ethereum cannot express (probability ~2^-128).
  throw new SignerError('HSM_BAD_SIGNATURE', 'HSM signature does not verify against the key');
}
