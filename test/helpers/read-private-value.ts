/**
 * Run as a child process: logs in to the token and tries to read the secret of every private key:
 * CKA_VALUE for EC and EdDSA keys, CKA_PRIVATE_EXPONENT for RSA keys (which have no CKA_VALUE).
 * Prints one JSON line per key: {label, attribute, result}, result being the CKR_ code or "READABLE".
 * Usage: SOFTHSM2_CONF=... SIGNER_HSM_PIN=... node read-private-value.js MODULE TOKEN_LABEL
 */
import pkcs11js from 'pkcs11js';

const [modulePath, tokenLabel] = process.argv.slice(2) as [string, string];
const lib = new pkcs11js.PKCS11();
lib.load(modulePath);
lib.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
try {
  const slot = lib
    .C_GetSlotList(true)
    .find((s) => lib.C_GetTokenInfo(s).label.trim() === tokenLabel);
  if (!slot) throw new Error(`no token ${tokenLabel}`);
  const session = lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
  lib.C_Login(session, pkcs11js.CKU_USER, process.env.SIGNER_HSM_PIN!);
  lib.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY }]);
  const handles = lib.C_FindObjects(session, 1000);
  lib.C_FindObjectsFinal(session);
  for (const handle of handles) {
    const label = lib.C_GetAttributeValue(session, handle, [{ type: pkcs11js.CKA_LABEL }])[0]!.value!.toString();
    const keyType = lib.C_GetAttributeValue(session, handle, [{ type: pkcs11js.CKA_KEY_TYPE }])[0]!.value!.readUInt32LE(0);
    const rsa = keyType === pkcs11js.CKK_RSA;
    const attribute = rsa ? 'CKA_PRIVATE_EXPONENT' : 'CKA_VALUE';
    let result = 'READABLE';
    try {
      lib.C_GetAttributeValue(session, handle, [{ type: rsa ? pkcs11js.CKA_PRIVATE_EXPONENT : pkcs11js.CKA_VALUE }]);
    } catch (error) {
      result = (error as Error).message.match(/CKR_\w+/)?.[0] ?? String(error);
    }
    process.stdout.write(JSON.stringify({ label, attribute, result }) + '\n');
  }
  lib.C_Logout(session);
} finally {
  lib.C_Finalize();
}
