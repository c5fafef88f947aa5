import type postgres from 'postgres';
import { advisoryLockId } from './advisory-locks.js';
import { DeadlineExceeded, withDeadline } from './deadline.js';
import { isSessionLost } from './errors.js';

/** How long taking or giving back a leader lock may take before it counts as failed. */
const LEADER_LOCK_TIMEOUT_MS = 5_000;

/** Leader locks live in their own namespace: a transaction locking a name of its own never waits for a leader. */
const leaderLockId = (name: string) => advisoryLockId(`leader\n${name}`);

interface Session {
  sql: postgres.ReservedSql;
  /** The server process of the session that holds `held`: a different one means they were lost. */
  pid?: number;
  held: Set<string>;
}

/**
 * Leader locks: session advisory locks held on one reserved connection, kept between calls. When
 * that connection fails (or silently became a new session) every lock counts as lost and the
 * connection is reopened on the next call.
 */
export class LeaderLocks {
  private session?: Promise<Session>;

  constructor(private readonly sql: postgres.Sql) {}

  /**
   * True if this store holds (or just took) the lock named `name`. Bounded: a connection that stopped
   * answering (PostgreSQL restarted under it) must not hold the job, or the service's shutdown, forever.
   */
  async take(name: string): Promise<boolean> {
    try {
      return await withDeadline(this.tryTake(name), LEADER_LOCK_TIMEOUT_MS);
    } catch (error) {
      if (error instanceof DeadlineExceeded) this.releaseWhenAnswered();
      // No query on a reserved connection that lost its session: postgres.js 3.4.9 then writes to a
      // null socket from a timer and the process dies (porsager/postgres#1208). Its locks are gone anyway.
      else await this.release(!isSessionLost(error));
      throw error;
    }
  }

  private async tryTake(name: string): Promise<boolean> {
    this.session ??= this.sql.reserve().then((reserved) => ({ sql: reserved, held: new Set<string>() }));
    const session = await this.session;
    if (session.held.has(name)) {
      const [row] = await session.sql`SELECT pg_backend_pid() AS pid`;
      if (row?.pid === session.pid) return true;
      session.held.clear();
    }
    const [row] = await session.sql`SELECT pg_backend_pid() AS pid, pg_try_advisory_lock(${leaderLockId(name).toString()}::bigint) AS got`;
    if (row?.pid !== session.pid) session.held.clear();
    session.pid = Number(row?.pid);
    if (row?.got !== true) return false;
    session.held.add(name);
    return true;
  }

  /**
   * A session that did not answer in time may be slow rather than gone, and may hold a lock it just
   * took: dropped now (the next call reserves another), it is unlocked and given back once it answers,
   * without a deadline; if it never does, the pool's end closes it.
   */
  private releaseWhenAnswered(): void {
    const session = this.session;
    this.session = undefined;
    void session
      ?.then(({ sql }) =>
        sql`SELECT pg_advisory_unlock_all()`.then(
          () => sql.release(),
          () => {}, // Gone after all: the pool reconnects it; giving it back would put it among the open ones, dead.
        ),
      )
      .catch(() => {});
  }

  /**
   * Unlocks and gives the connection back (which ends nothing: `end` of the pool closes it and its
   * locks). With `unlock` false (the session, and with it every lock, is gone) or when unlocking fails,
   * the connection is dropped rather than given back.
   */
  async release(unlock = true): Promise<void> {
    const session = this.session;
    this.session = undefined;
    if (!session) return;
    try {
      const { sql } = await withDeadline(session, LEADER_LOCK_TIMEOUT_MS);
      // Unlock before the connection goes back to the pool, where another query could keep it alive.
      if (!unlock) return; // The session is gone: the pool reconnects that connection; giving it back would put it among the open ones, dead.
      await withDeadline(sql`SELECT pg_advisory_unlock_all()`, LEADER_LOCK_TIMEOUT_MS);
      sql.release();
    } catch {
      // reserve() itself failed or never answered: there is nothing to give back (closing the pool ends it).
    }
  }
}
