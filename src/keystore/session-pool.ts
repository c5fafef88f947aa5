import type { Session } from 'graphene-pk11';
import { SignerError } from '../domain/errors.js';
import { isNotLoggedIn, isSessionLost } from './pkcs11-errors.js';

/**
 * A fixed set of PKCS#11 sessions, each used by one operation at a time: a session with an
 * operation active refuses a second one (CKR_OPERATION_ACTIVE). Callers wait in FIFO order.
 */
export class SessionPool {
  private readonly idle: Session[] = [];
  private readonly waiters: Array<(session: Session) => void> = [];
  private closed = false;
  private readonly all = new Set<Session>();

  constructor(
    /** Opens one new session on the token (login is per application, so it is logged in too). */
    private readonly openSession: () => Session,
    /** Logs the application in again after the token forgot the login. */
    private readonly relogin: () => void,
    readonly size: number,
  ) {
    for (let i = 0; i < size; i++) this.add(openSession());
  }

  /** Sessions in use right now, for saturation metrics. */
  get busy(): number {
    return this.all.size - this.idle.length;
  }

  /** Operations waiting for a session, for saturation metrics. */
  get waiting(): number {
    return this.waiters.length;
  }

  /**
   * Runs `work` with exclusive use of a session and always gives the session back. A session the
   * token no longer knows is reopened, and a lost login is redone, then `work` is retried once.
   */
  async use<T>(work: (session: Session) => Promise<T>): Promise<T> {
    let session = await this.acquire();
    try {
      try {
        return await work(session);
      } catch (error) {
        if (isSessionLost(error)) {
          session = this.replace(session);
          return await work(session);
        }
        if (isNotLoggedIn(error)) {
          this.relogin();
          return await work(session);
        }
        throw error;
      }
    } finally {
      this.release(session);
    }
  }

  private replace(lost: Session): Session {
    this.all.delete(lost);
    try {
      lost.close();
    } catch {
      // Already invalid: nothing to close.
    }
    const fresh = this.openSession();
    this.all.add(fresh);
    return fresh;
  }

  close(): void {
    this.closed = true;
    for (const session of this.all) {
      try {
        session.close();
      } catch {
        // Closing is best effort at shutdown.
      }
    }
    this.all.clear();
    this.idle.length = 0;
  }

  private add(session: Session): void {
    this.all.add(session);
    this.idle.push(session);
  }

  private acquire(): Promise<Session> {
    if (this.closed) return Promise.reject(new SignerError('HSM_UNAVAILABLE', 'HSM session pool is closed'));
    const session = this.idle.pop();
    if (session) return Promise.resolve(session);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private release(session: Session): void {
    if (this.closed) return;
    const waiter = this.waiters.shift();
    if (waiter) waiter(session);
    else this.idle.push(session);
  }
}
