import { invalidField } from '../../domain/errors.js';
import type { KeyRecord } from '../../domain/key.js';
import type { KeyType } from '../../domain/key-types.js';
import type { JwtAlgorithm, JwtKeySettings, KeyVersion } from '../../domain/jwt.js';
import { ethereumAddress, spkiDer } from '../../domain/public-key.js';
import { messageSignature, type EthereumSignature } from '../../schemes/ethereum/schemes.js';
import type { BytesAlgorithm } from '../../schemes/raw-bytes.js';
import { scalarBytes } from '../../schemes/ecdsa.js';
import type { EcdsaRecoverable, SignedTransaction } from '../../schemes/ethereum/transaction.js';
import type { JwtAlgorithm__Output as ProtoJwtAlgorithm } from '../generated/signer/v1/JwtAlgorithm.js';
import type { Key, ProtoKeyType, ProtoSignBytesAlgorithm } from '../proto.js';

/** Conversions between domain values and proto messages that more than one area uses. */

export const KEY_TYPES_TO_PROTO: Readonly<Record<KeyType, ProtoKeyType>> = {
  secp256k1: 'KEY_TYPE_SECP256K1',
  ed25519: 'KEY_TYPE_ED25519',
  p256: 'KEY_TYPE_P256',
  rsa2048: 'KEY_TYPE_RSA_2048',
  rsa3072: 'KEY_TYPE_RSA_3072',
};

export const BYTES_ALGORITHMS_TO_PROTO: Readonly<Record<BytesAlgorithm, ProtoSignBytesAlgorithm>> = {
  ed25519: 'SIGN_BYTES_ALGORITHM_ED25519',
  'ecdsa-p256-sha256': 'SIGN_BYTES_ALGORITHM_ECDSA_P256_SHA256',
  'rsa-pss-sha256': 'SIGN_BYTES_ALGORITHM_RSA_PSS_SHA256',
  'rsa-pkcs1v15-sha256': 'SIGN_BYTES_ALGORITHM_RSA_PKCS1V15_SHA256',
};

export const JWT_ALGORITHMS_TO_PROTO: Readonly<Record<JwtAlgorithm, ProtoJwtAlgorithm>> = {
  ES256: 'JWT_ALGORITHM_ES256',
  EdDSA: 'JWT_ALGORITHM_EDDSA',
  RS256: 'JWT_ALGORITHM_RS256',
  PS256: 'JWT_ALGORITHM_PS256',
};

export function fromProto<T extends string>(table: Readonly<Record<T, string | number>>, value: unknown, field: string): T {
  const found = (Object.keys(table) as T[]).find((domain) => table[domain] === value);
  if (!found) throw invalidField(field, `has an unknown value ${JSON.stringify(value)}`);
  return found;
}

/** A SignBytes algorithm; undefined (the key type's default) when unspecified. */
export function bytesAlgorithmFromProto(value: ProtoSignBytesAlgorithm): BytesAlgorithm | undefined {
  return value === 'SIGN_BYTES_ALGORITHM_UNSPECIFIED' ? undefined : fromProto(BYTES_ALGORITHMS_TO_PROTO, value, 'algorithm');
}

export function toProtoKey(key: KeyRecord): Key {
  return {
    name: key.name,
    type: KEY_TYPES_TO_PROTO[key.type],
    labels: key.labels,
    createTime: key.createdAt.toISOString(),
    enabled: key.enabled,
    lastUsedTime: key.lastUsedAt?.toISOString() ?? '',
    useCount: String(key.useCount),
    publicKeyDer: Buffer.from(spkiDer(key.publicJwk)),
    publicJwk: JSON.stringify(key.publicJwk),
    ethereumAddress: key.type === 'secp256k1' ? ethereumAddress(key.publicJwk) : '',
  };
}

export function toProtoTransaction(result: EcdsaRecoverable & SignedTransaction) {
  return {
    r: scalarBytes(result.r),
    s: scalarBytes(result.s),
    yParity: result.yParity,
    v: result.v === undefined ? '' : result.v.toString(),
    signedTransaction: result.signedTransaction,
    transactionHash: result.transactionHash,
  };
}

export function toProtoEthereumSignature(result: EthereumSignature) {
  return {
    r: scalarBytes(result.r),
    s: scalarBytes(result.s),
    yParity: result.yParity,
    signature: messageSignature(result),
    digest: result.digest,
  };
}

/** A JWT key with its algorithm and versions (CreateJwtKey, RotateKey, and the jwt part of a Key). */
export function toProtoJwtKey(key: KeyRecord, settings: JwtKeySettings, versions: KeyVersion[]) {
  const time = (ms?: number) => (ms === undefined ? '' : new Date(ms).toISOString());
  return {
    key: toProtoKey(key),
    algorithm: JWT_ALGORITHMS_TO_PROTO[settings.algorithm],
    versions: versions.map((v) => ({
      version: v.version,
      kid: v.kid,
      state: v.state,
      publishTime: time(v.publishedAt),
      activateTime: time(v.activatedAt),
      retireStartTime: time(v.retiringAt),
      retireTime: time(v.retiredAt),
    })),
  };
}
