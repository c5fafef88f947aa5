import pkcs11js from 'pkcs11js';
import type { ITemplate } from 'graphene-pk11';
import type { KeyType, SignMechanism } from '../domain/key-types.js';
import { KEY_TYPE_INFO } from '../domain/key-types.js';

// Vendor-neutral PKCS#11 3.0 values that graphene and pkcs11js have no names for.
export const CKK_EC_EDWARDS = 0x40;
export const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x1055;
export const CKM_EDDSA = 0x1057;

/** DER-encoded curve OIDs for CKA_EC_PARAMS. */
const EC_PARAMS: Record<string, Buffer> = {
  secp256k1: Buffer.from('06052b8104000a', 'hex'),
  'P-256': Buffer.from('06082a8648ce3d030107', 'hex'),
  Ed25519: Buffer.from('06032b6570', 'hex'),
};

/** The PKCS#11 mechanism for each of our sign mechanisms. */
export const MECHANISM_TYPE: Readonly<Record<SignMechanism, number>> = {
  'ecdsa-digest': pkcs11js.CKM_ECDSA,
  eddsa: CKM_EDDSA,
  'rsa-pkcs1-sha256': pkcs11js.CKM_SHA256_RSA_PKCS,
  'rsa-pss-sha256': pkcs11js.CKM_SHA256_RSA_PKCS_PSS,
};

export function signMechanism(mechanism: SignMechanism): pkcs11js.Mechanism {
  if (mechanism === 'rsa-pss-sha256') {
    const parameter: pkcs11js.RsaPSS = {
      type: pkcs11js.CK_PARAMS_RSA_PSS,
      hashAlg: pkcs11js.CKM_SHA256,
      mgf: pkcs11js.CKG_MGF1_SHA256,
      saltLen: 32,
    };
    return { mechanism: MECHANISM_TYPE[mechanism], parameter };
  }
  return { mechanism: MECHANISM_TYPE[mechanism] };
}

/** CKA_ALLOWED_MECHANISMS is an array of CK_MECHANISM_TYPE (unsigned long, 8 bytes on 64-bit Linux). */
function allowedMechanisms(mechanisms: readonly SignMechanism[]): Buffer {
  const buffer = Buffer.alloc(8 * mechanisms.length);
  mechanisms.forEach((mechanism, i) => buffer.writeBigUInt64LE(BigInt(MECHANISM_TYPE[mechanism]), 8 * i));
  return buffer;
}

export interface KeyPairTemplates {
  generation: number;
  publicKey: ITemplate;
  privateKey: ITemplate;
}

/**
 * Templates for a key pair that can sign and do nothing else, and never leave the token.
 * SoftHSM defaults CKA_DECRYPT, CKA_UNWRAP and CKA_DERIVE to true, so they are set explicitly.
 */
export function keyPairTemplates(type: KeyType, id: Buffer, label: string): KeyPairTemplates {
  const info = KEY_TYPE_INFO[type];
  const common = { token: true, id, label };
  const privateKey: ITemplate = {
    ...common,
    private: true,
    sensitive: true,
    extractable: false,
    sign: true,
    decrypt: false,
    unwrap: false,
    derive: false,
    allowedMechanisms: allowedMechanisms(info.mechanisms),
  };
  const publicKey: ITemplate = { ...common, private: false, verify: true, encrypt: false, wrap: false, derive: false };

  switch (info.family) {
    case 'ec':
      return {
        generation: pkcs11js.CKM_EC_KEY_PAIR_GEN,
        publicKey: { ...publicKey, keyType: pkcs11js.CKK_EC, paramsEC: EC_PARAMS[info.jwkCurve!] },
        privateKey: { ...privateKey, keyType: pkcs11js.CKK_EC },
      };
    case 'edwards':
      return {
        generation: CKM_EC_EDWARDS_KEY_PAIR_GEN,
        publicKey: { ...publicKey, keyType: CKK_EC_EDWARDS, paramsEC: EC_PARAMS[info.jwkCurve!] },
        privateKey: { ...privateKey, keyType: CKK_EC_EDWARDS },
      };
    case 'rsa':
      return {
        generation: pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN,
        publicKey: {
          ...publicKey,
          keyType: pkcs11js.CKK_RSA,
          modulusBits: info.rsaBits!,
          publicExponent: Buffer.from([0x01, 0x00, 0x01]),
        },
        privateKey: { ...privateKey, keyType: pkcs11js.CKK_RSA },
      };
  }
}
