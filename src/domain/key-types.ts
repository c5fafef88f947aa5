/**
 * The one table that knows everything about each key type. Nothing else switches on a key type:
 * the keystore, schemes and API look their facts up here.
 */
export const KEY_TYPES = ['secp256k1', 'ed25519', 'p256', 'rsa2048', 'rsa3072'] as const;
export type KeyType = (typeof KEY_TYPES)[number];

/**
 * How the HSM signs, named independently of PKCS#11:
 * - `ecdsa-digest`: ECDSA over a 32-byte digest the caller of the HSM computed (CKM_ECDSA).
 * - `eddsa`: pure Ed25519 over the whole message (CKM_EDDSA).
 * - `rsa-pkcs1-sha256`, `rsa-pss-sha256`: the HSM hashes the message with SHA-256 itself.
 */
export const SIGN_MECHANISMS = ['ecdsa-digest', 'eddsa', 'rsa-pkcs1-sha256', 'rsa-pss-sha256'] as const;
export type SignMechanism = (typeof SIGN_MECHANISMS)[number];

export interface KeyTypeInfo {
  family: 'ec' | 'edwards' | 'rsa';
  /** JOSE curve name for EC and OKP keys. */
  jwkCurve?: 'secp256k1' | 'P-256' | 'Ed25519';
  rsaBits?: number;
  /** The only mechanisms the key may be used with (CKA_ALLOWED_MECHANISMS). */
  mechanisms: readonly SignMechanism[];
  /** Whether the key speaks Ethereum (transactions, EIP-191, EIP-712). */
  ethereum: boolean;
}

export const KEY_TYPE_INFO: Readonly<Record<KeyType, KeyTypeInfo>> = {
  secp256k1: { family: 'ec', jwkCurve: 'secp256k1', mechanisms: ['ecdsa-digest'], ethereum: true },
  p256: { family: 'ec', jwkCurve: 'P-256', mechanisms: ['ecdsa-digest'], ethereum: false },
  ed25519: { family: 'edwards', jwkCurve: 'Ed25519', mechanisms: ['eddsa'], ethereum: false },
  rsa2048: { family: 'rsa', rsaBits: 2048, mechanisms: ['rsa-pkcs1-sha256', 'rsa-pss-sha256'], ethereum: false },
  rsa3072: { family: 'rsa', rsaBits: 3072, mechanisms: ['rsa-pkcs1-sha256', 'rsa-pss-sha256'], ethereum: false },
};

export function isKeyType(value: string): value is KeyType {
  return (KEY_TYPES as readonly string[]).includes(value);
}
