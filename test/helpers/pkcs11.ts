import pkcs11js from 'pkcs11js';
import { SOFTHSM_MODULE } from '../../src/keystore/dev-token.js';

/**
 * A second handle on the SoftHSM module this process already uses (dlopen shares its state), to
 * do things to the service's token from underneath it, as a token reset or another tool would.
 */
function sameModule(): pkcs11js.PKCS11 {
  const lib = new pkcs11js.PKCS11();
  lib.load(SOFTHSM_MODULE);
  try {
    lib.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  } catch (error) {
    // Expected: the service initialised it. Never C_Finalize here: that would pull it from under the service.
    if ((error as pkcs11js.Pkcs11Error).code !== pkcs11js.CKR_CRYPTOKI_ALREADY_INITIALIZED) throw error;
  }
  return lib;
}

function slotOf(lib: pkcs11js.PKCS11, label: string): Buffer {
  const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trim() === label);
  if (!slot) throw new Error(`no token labelled ${label}`);
  return slot;
}

/** C_CloseAllSessions on the token: every session of this process ends, and with them the login. */
export function closeAllSessions(label: string): void {
  const lib = sameModule();
  lib.C_CloseAllSessions(slotOf(lib, label));
}

/** Changes the user PIN while this process is logged in (as an operator might, behind the service's back). */
export function changeUserPin(label: string, oldPin: string, newPin: string): void {
  const lib = sameModule();
  const session = lib.C_OpenSession(slotOf(lib, label), pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  try {
    lib.C_SetPIN(session, oldPin, newPin);
  } finally {
    lib.C_CloseSession(session);
  }
}

/**
 * Swaps the CKA_IDs of the private keys labelled `keyA` and `keyB`, behind the service's back: a key
 * the service looks up by its id then signs with the other key (as a tampered HSM would).
 */
export function swapPrivateKeys(tokenLabel: string, keyA: string, keyB: string): void {
  const lib = sameModule();
  const session = lib.C_OpenSession(slotOf(lib, tokenLabel), pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  try {
    const find = (label: string) => {
      lib.C_FindObjectsInit(session, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
        { type: pkcs11js.CKA_LABEL, value: label },
      ]);
      const found = lib.C_FindObjects(session, 2);
      lib.C_FindObjectsFinal(session);
      if (found.length !== 1) throw new Error(`expected one private key labelled ${label}, found ${found.length}`);
      return { handle: found[0]!, id: lib.C_GetAttributeValue(session, found[0]!, [{ type: pkcs11js.CKA_ID }])[0]!.value as Buffer };
    };
    const [a, b] = [find(keyA), find(keyB)];
    lib.C_SetAttributeValue(session, a.handle, [{ type: pkcs11js.CKA_ID, value: b.id }]);
    lib.C_SetAttributeValue(session, b.handle, [{ type: pkcs11js.CKA_ID, value: a.id }]);
  } finally {
    lib.C_CloseSession(session);
  }
}

/** The protection attributes of the secret keys labelled `keyLabel` (read through this process's login). */
export function secretKeyProtection(tokenLabel: string, keyLabel: string): Array<Record<'sensitive' | 'extractable' | 'encrypt' | 'wrap' | 'unwrap' | 'sign' | 'derive', boolean>> {
  const lib = sameModule();
  const session = lib.C_OpenSession(slotOf(lib, tokenLabel), pkcs11js.CKF_SERIAL_SESSION);
  try {
    lib.C_FindObjectsInit(session, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_LABEL, value: keyLabel },
    ]);
    const handles = lib.C_FindObjects(session, 10);
    lib.C_FindObjectsFinal(session);
    const names = { sensitive: pkcs11js.CKA_SENSITIVE, extractable: pkcs11js.CKA_EXTRACTABLE, encrypt: pkcs11js.CKA_ENCRYPT, wrap: pkcs11js.CKA_WRAP, unwrap: pkcs11js.CKA_UNWRAP, sign: pkcs11js.CKA_SIGN, derive: pkcs11js.CKA_DERIVE };
    return handles.map((handle) => {
      const values = lib.C_GetAttributeValue(session, handle, Object.values(names).map((type) => ({ type })));
      return Object.fromEntries(Object.keys(names).map((name, i) => [name, (values[i]!.value as Buffer)[0] === 1])) as never;
    });
  } finally {
    lib.C_CloseSession(session);
  }
}
