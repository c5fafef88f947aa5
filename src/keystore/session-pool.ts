import type { Session } from 'graphene-pk11';
import { SignerError } from '../domain/errors.js';
import { isRecoverable } from './pkcs11-errors.js';
import { sessionIsOpen } from './token-login.js';

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
    /** Logs the application in again if the token forgot, and forgets cached object handles. */
    private readonly restoreLogin: () => void,
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
   * Runs `work` with exclusive use of a session and always gives the session back. After a token
   * reset (the session gone, the login forgotten, object handles invalid) the session is reopened
   * if it is gone, the login restored, and `work` retried once.
   */
  async use<T>(work: (session: Session) => Promise<T>): Promise<T> {
    let session = await this.acquire();
    try {
      try {
        return await work(session);
      } catch (error) {
        if (!isRecoverable(error)) throw error;
        if (!sessionIsOpen(session)) session = this.replace(session);
        this.restoreLogin();
        return await work(session);
      }
    } finally {
      this.release(session);
    }
  }

  /** Opens a session in place of a lost one. If that fails, the lost one stays, to be replaced next time. */
  private replace(lost: Session): Session {
    const fresh = this.openSession();
    this.all.delete(lost);
    try {
      lost.close();
    } catch {
      // Already invalid: nothing to close.
    }
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
