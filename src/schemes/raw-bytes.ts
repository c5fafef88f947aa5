import { constants, verify } from 'node:crypto';
import { p256 } from '@noble/curves/nist.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { SignerError, invalidField } from '../domain/errors.js';
import type { KeyType, SignMechanism } from '../domain/key-types.js';
import { publicKeyObject } from '../domain/public-key.js';
import { lowSFromRaw, scalarBytes } from './ecdsa.js';
import type { Scheme } from './scheme.js';

/**
 * Raw message signing for keys that are not Ethereum keys. Not offered for secp256k1: signing
 * arbitrary bytes with an Ethereum key would be blind signing.
 */
export const BYTES_ALGORITHMS = ['ed25519', 'ecdsa-p256-sha256', 'rsa-pss-sha256', 'rsa-pkcs1v15-sha256'] as const;
export type BytesAlgorithm = (typeof BYTES_ALGORITHMS)[number];

interface AlgorithmInfo {
  keyTypes: readonly KeyType[];
  mechanism: SignMechanism;
  /** Verifies a finished signature over the message with OpenSSL. */
  verify(message: Uint8Array, signature: Uint8Array, key: ReturnType<typeof publicKeyObject>): boolean;
}

const RSA: readonly KeyType[] = ['rsa2048', 'rsa3072'];

const ALGORITHMS: Readonly<Record<BytesAlgorithm, AlgorithmInfo>> = {
  ed25519: {
    keyTypes: ['ed25519'],
    mechanism: 'eddsa',
    verify: (message, signature, key) => verify(null, message, key, signature),
  },
  'ecdsa-p256-sha256': {
    keyTypes: ['p256'],
    mechanism: 'ecdsa-digest',
    verify: (message, signature, key) => verify('sha256', message, { key, dsaEncoding: 'ieee-p1363' }, signature),
  },
  'rsa-pss-sha256': {
    keyTypes: RSA,
    mechanism: 'rsa-pss-sha256',
    verify: (message, signature, key) =>
      verify('sha256', message, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, signature),
  },
  'rsa-pkcs1v15-sha256': {
    keyTypes: RSA,
    mechanism: 'rsa-pkcs1-sha256',
    verify: (message, signature, key) =>
      verify('sha256', message, { key, padding: constants.RSA_PKCS1_PADDING }, signature),
  },
};

export interface BytesRequest {
  message: Uint8Array;
  /** Optional when the key type has exactly one algorithm. */
  algorithm?: BytesAlgorithm;
}

interface BytesDecoded {
  message: Uint8Array;
  algorithm: BytesAlgorithm;
}

export interface BytesSignature {
  algorithm: BytesAlgorithm;
  /** Ed25519: 64 bytes (RFC 8032). P-256: raw r||s, 64 bytes, low-s. RSA: modulus-sized. */
  signature: Uint8Array;
}

export const bytesScheme: Scheme<BytesRequest, BytesDecoded, BytesSignature> = {
  name: 'bytes',
  keyTypes: ['ed25519', 'p256', ...RSA],
  prepare({ message, algorithm }, key) {
    if (message.length === 0) throw invalidField('message', 'is required');
    const chosen = algorithm ?? defaultAlgorithm(key.type);
    const info = ALGORITHMS[chosen];
    if (!info.keyTypes.includes(key.type)) {
      throw new SignerError('WRONG_KEY_TYPE', `algorithm ${chosen} cannot be used with a ${key.type} key`, 'algorithm');
    }
    // CKM_ECDSA signs a digest: hash here, from exactly the bytes received.
    const input = info.mechanism === 'ecdsa-digest' ? sha256(message) : message;
    return {
      decoded: { message, algorithm: chosen },
      intent: { scheme: 'bytes', message, algorithm: chosen },
      mechanism: info.mechanism,
      input,
    };
  },
  finish({ decoded }, raw, key) {
    let signature = raw;
    if (decoded.algorithm === 'ecdsa-p256-sha256') {
      const { r, s } = lowSFromRaw(raw, p256.Point.Fn.ORDER);
      signature = new Uint8Array([...scalarBytes(r), ...scalarBytes(s)]);
    }
    if (!ALGORITHMS[decoded.algorithm].verify(decoded.message, signature, publicKeyObject(key.publicJwk))) {
      throw new SignerError('HSM_BAD_SIGNATURE', 'HSM signature does not verify against the key');
    }
    return { algorithm: decoded.algorithm, signature };
  },
  signatureOf: (result) => result.signature,
};

function defaultAlgorithm(type: KeyType): BytesAlgorithm {
  const candidates = BYTES_ALGORITHMS.filter((algorithm) => ALGORITHMS[algorithm].keyTypes.includes(type));
  if (candidates.length === 1) return candidates[0]!;
  if (candidates.length === 0) {
    throw new SignerError('WRONG_KEY_TYPE', `${type} keys cannot sign raw bytes`, 'key_name');
  }
  throw invalidField('algorithm', `is required for ${type} keys: one of ${candidates.join(', ')}`);
}
