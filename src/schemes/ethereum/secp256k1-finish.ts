import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { SignerError } from '../../domain/errors.js';
import type { PublicJwk } from '../../domain/key.js';
import { ecPoint } from '../../domain/public-key.js';
import { lowSFromRaw } from '../ecdsa.js';
import type { EcdsaRecoverable } from './transaction.js';

const Point = secp256k1.Point;
const Fn = Point.Fn;
const N = Fn.ORDER;

// Public points with precomputed multiplication tables, per key. Tables cost a few ms once and make
// every later verification several times faster. Bounded so that many keys cannot exhaust memory.
const MAX_CACHED_POINTS = 1024;
const pointCache = new Map<string, InstanceType<typeof Point>>();

function publicPoint(jwk: PublicJwk): InstanceType<typeof Point> {
  const id = `${jwk.x}|${jwk.y}`;
  let point = pointCache.get(id);
  if (!point) {
    point = Point.fromBytes(ecPoint(jwk)).precompute(8, false);
    if (pointCache.size >= MAX_CACHED_POINTS) pointCache.delete(pointCache.keys().next().value!);
    pointCache.set(id, point);
  }
  return point;
}

/**
 * Turns raw CKM_ECDSA output into a low-s signature with its recovery bit, verifying it on the way.
 *
 * Verification computes R = (z/s)·G + (r/s)·Q and checks x(R) = r; the parity of y(R) is the
 * recovery bit. One double multiplication, rather than trying both recovery ids (two public-key
 * recoveries, each about 1 ms in pure JS).
 */
export function finishSecp256k1(digest: Uint8Array, raw: Uint8Array, publicJwk: PublicJwk): EcdsaRecoverable {
  const { r, s } = lowSFromRaw(raw, N);
  const z = Fn.create(BigInt('0x' + bytesToHex(digest)));
  const sInverse = Fn.inv(s);
  const R = Point.BASE.multiplyUnsafe(Fn.mul(z, sInverse)).add(publicPoint(publicJwk).multiplyUnsafe(Fn.mul(r, sInverse)));
  if (R.is0()) throw new SignerError('HSM_BAD_SIGNATURE', 'HSM signature does not verify');
  const { x, y } = R.toAffine();
  // x(R) >= n would need recovery id 2 or 3, which Ethereum cannot express (probability ~2^-128).
  if (x !== r) throw new SignerError('HSM_BAD_SIGNATURE', 'HSM signature does not verify against the key');
  return { r, s, yParity: (y & 1n) === 1n ? 1 : 0 };
}
