import graphene from 'graphene-pk11';
import type { Session } from 'graphene-pk11';
import pkcs11js from 'pkcs11js';
import type { SignerError } from '../domain/errors.js';
import { isPkcs11Error, toSignerError } from './pkcs11-errors.js';

// Session states with the user logged in (PKCS#11 2.40, 5.6); pkcs11js does not export them.
const CKS_RO_USER_FUNCTIONS = 1;
const CKS_RW_USER_FUNCTIONS = 3;

/** Whether the token still knows this session (a token reset or C_CloseAllSessions ends them all). */
export function sessionIsOpen(session: Session): boolean {
  try {
    session.lib.C_GetSessionInfo(session.handle);
    return true;
  } catch {
    return false;
  }
}

export function sessionIsLoggedIn(session: Session): boolean {
  try {
    const { state } = session.lib.C_GetSessionInfo(session.handle);
    return state === CKS_RO_USER_FUNCTIONS || state === CKS_RW_USER_FUNCTIONS;
  } catch {
    return false;
  }
}

/**
 * The application's login to the token. PKCS#11 logs the whole application in, on any session, and
 * forgets it when the application's last session closes; this class keeps one session open to hold
 * it, and logs in again after the token forgot. A refused PIN is never tried a second time:
 * repeated wrong PINs lock a token.
 */
export class TokenLogin {
  private refused?: SignerError;

  private constructor(
    private readonly openSession: () => Session,
    private readonly pin: string,
    private session: Session,
  ) {}

  /** Opens the holding session and logs in, once. Throws HSM_PIN_INCORRECT for a refused PIN. */
  static open(openSession: () => Session, pin: string): TokenLogin {
    const login = new TokenLogin(openSession, pin, openSession());
    login.logIn();
    return login;
  }

  get loggedIn(): boolean {
    return sessionIsLoggedIn(this.session);
  }

  /**
   * Logs in again if the token forgot the login (its sessions were closed underneath, or it was
   * reset). Returns whether it had to. After a refused PIN it only rethrows that refusal.
   */
  restore(): boolean {
    if (this.loggedIn) return false;
    if (this.refused) throw this.refused;
    if (!sessionIsOpen(this.session)) this.session = this.openSession();
    this.logIn();
    return true;
  }

  /** Logs out (which ends the login of every session) and closes the holding session. Best effort. */
  close(): void {
    try {
      this.session.logout();
    } catch {
      // Already logged out or token gone.
    }
    try {
      this.session.close();
    } catch {
      // Token gone.
    }
  }

  private logIn(): void {
    try {
      this.session.login(this.pin, graphene.UserType.USER);
    } catch (error) {
      if (isPkcs11Error(error, pkcs11js.CKR_USER_ALREADY_LOGGED_IN)) return;
      const failure = toSignerError(error, 'login');
      if (failure.code === 'HSM_PIN_INCORRECT') this.refused = failure;
      throw failure;
    }
  }
}
