import pkcs11js from 'pkcs11js';
import { SignerError } from '../domain/errors.js';

/** The CKR_* return value carried by a pkcs11js error, if any. */
export function pkcs11ReturnValue(error: unknown): number | undefined {
  if (error instanceof pkcs11js.Pkcs11Error) return error.code;
  return undefined;
}

export function isPkcs11Error(error: unknown, ...codes: number[]): boolean {
  const code = pkcs11ReturnValue(error);
  return code !== undefined && codes.includes(code);
}

/** The session is gone: reopen it and retry once. */
export function isSessionLost(error: unknown): boolean {
  return isPkcs11Error(error, pkcs11js.CKR_SESSION_HANDLE_INVALID, pkcs11js.CKR_SESSION_CLOSED);
}

/** The token forgot our login: a private key looked up without it is simply not found. */
export class LoginLostError extends Error {
  constructor() {
    super('the token no longer has this application logged in');
  }
}

export function isNotLoggedIn(error: unknown): boolean {
  return error instanceof LoginLostError || isPkcs11Error(error, pkcs11js.CKR_USER_NOT_LOGGED_IN);
}

/**
 * Failures a token reset causes (sessions closed underneath, login forgotten, object handles gone):
 * reopen the session, log in again, look the key up again, and retry once.
 */
export function isRecoverable(error: unknown): boolean {
  return (
    isSessionLost(error) || isNotLoggedIn(error) || isPkcs11Error(error, pkcs11js.CKR_OBJECT_HANDLE_INVALID, pkcs11js.CKR_KEY_HANDLE_INVALID)
  );
}

/** Maps a PKCS#11 failure to the error a caller sees. PIN problems are never retried. */
export function toSignerError(error: unknown, operation: string): SignerError {
  if (error instanceof SignerError) return error;
  if (isPkcs11Error(error, pkcs11js.CKR_PIN_INCORRECT, pkcs11js.CKR_PIN_LOCKED, pkcs11js.CKR_PIN_LEN_RANGE)) {
    return new SignerError('HSM_PIN_INCORRECT', `HSM ${operation} failed: the PIN was refused`, undefined, { cause: error });
  }
  return new SignerError('HSM_UNAVAILABLE', `HSM ${operation} failed`, undefined, { cause: error });
}
