import { randomBytes } from 'node:crypto';
import graphene from 'graphene-pk11';
import type { Session } from 'graphene-pk11';
import pkcs11js from 'pkcs11js';
import { SignerError } from '../domain/errors.js';

/**
 * The token's AES-256 key for secrets the database keeps but must not hold readable (a JWT kept for
 * idempotent replay is a bearer token). It is generated inside the token on first use, never leaves
 * it (sensitive, not extractable) and does AES-GCM only.
 *
 * Sealed form: CKA_ID (16) || IV (12) || ciphertext || tag (16). The id names the key that sealed it:
 * two processes creating the key at once leave two, and each blob still opens.
 */
export const AT_REST_KEY_LABEL = 'signer-at-rest-aes-256';
const ID_BYTES = 16;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Seals `plaintext` bound to `aad` (which must be given again to open it). Synchronous: AES of a few kB. */
export function sealAtRest(lib: pkcs11js.PKCS11, session: Session, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  const key = atRestKey(session);
  const iv = randomBytes(IV_BYTES);
  lib.C_EncryptInit(session.handle, gcm(iv, aad), key.handle);
  const sealed = lib.C_Encrypt(session.handle, Buffer.from(plaintext), Buffer.alloc(plaintext.length + TAG_BYTES));
  return Buffer.concat([key.id, iv, sealed]);
}

/** Opens what `sealAtRest` sealed with the same `aad`; a blob that was altered or moved is refused. */
export function openAtRest(lib: pkcs11js.PKCS11, session: Session, blob: Uint8Array, aad: Uint8Array): Uint8Array {
  if (blob.length < ID_BYTES + IV_BYTES + TAG_BYTES) throw new SignerError('INTERNAL', 'a sealed value is too short');
  const bytes = Buffer.from(blob);
  const id = bytes.subarray(0, ID_BYTES);
  const iv = bytes.subarray(ID_BYTES, ID_BYTES + IV_BYTES);
  const found = session.find({ class: graphene.ObjectClass.SECRET_KEY, label: AT_REST_KEY_LABEL, id });
  if (found.length !== 1) throw new SignerError('HSM_UNAVAILABLE', `the at-rest key ${id.toString('hex')} is not on the token`);
  lib.C_DecryptInit(session.handle, gcm(iv, aad), found.items(0).handle);
  const sealed = bytes.subarray(ID_BYTES + IV_BYTES);
  try {
    return new Uint8Array(lib.C_Decrypt(session.handle, sealed, Buffer.alloc(sealed.length)));
  } catch (error) {
    // The tag does not match: the blob was altered, or moved from the row it was sealed for. SoftHSM
    // reports that as CKR_GENERAL_ERROR, which an HSM fault can also be: the message says both.
    if (error instanceof pkcs11js.Pkcs11Error && [pkcs11js.CKR_ENCRYPTED_DATA_INVALID, pkcs11js.CKR_GENERAL_ERROR].includes(error.code)) {
      throw new SignerError('INTERNAL', 'a sealed value does not open: it was altered or moved (or the HSM failed)', undefined, { cause: error });
    }
    throw error;
  }
}

/** The key to seal with: the existing one (the lowest id if a race left several), or a new one. */
function atRestKey(session: Session): { handle: Buffer; id: Buffer } {
  const found = session.find({ class: graphene.ObjectClass.SECRET_KEY, label: AT_REST_KEY_LABEL });
  const keys = Array.from({ length: found.length }, (_, i) => found.items(i)).map((object) => ({
    handle: object.handle,
    id: object.getAttribute({ id: null }).id as Buffer,
  }));
  keys.sort((a, b) => Buffer.compare(a.id, b.id));
  if (keys[0]) return keys[0];
  const id = randomBytes(ID_BYTES);
  const key = session.generateKey(graphene.KeyGenMechanism.AES, {
    class: graphene.ObjectClass.SECRET_KEY,
    keyType: graphene.KeyType.AES,
    valueLen: 32,
    token: true,
    private: true,
    sensitive: true,
    extractable: false,
    encrypt: true,
    decrypt: true,
    sign: false,
    verify: false,
    wrap: false,
    unwrap: false,
    derive: false,
    label: AT_REST_KEY_LABEL,
    id,
    allowedMechanisms: allowedMechanisms([pkcs11js.CKM_AES_GCM]),
  });
  return { handle: key.handle, id };
}

function gcm(iv: Buffer, aad: Uint8Array): pkcs11js.Mechanism {
  const parameter: pkcs11js.AesGCM = { type: pkcs11js.CK_PARAMS_AES_GCM, iv, aad: Buffer.from(aad), ivBits: IV_BYTES * 8, tagBits: TAG_BYTES * 8 };
  return { mechanism: pkcs11js.CKM_AES_GCM, parameter };
}

/** CKA_ALLOWED_MECHANISMS: CK_MECHANISM_TYPE values, 8 bytes each on 64-bit Linux. */
function allowedMechanisms(mechanisms: number[]): Buffer {
  const buffer = Buffer.alloc(8 * mechanisms.length);
  mechanisms.forEach((mechanism, i) => buffer.writeBigUInt64LE(BigInt(mechanism), 8 * i));
  return buffer;
}
