import type postgres from 'postgres';

/** How often the offset to the database clock is measured again. */
const REFRESH_MS = 10_000;

/**
 * The database's clock, read at open and every 10 s (half the round trip corrected) and carried forward
 * by this process's monotonic clock in between: replicas on machines whose clocks drift or step agree
 * on windows and expiries, and `now()` costs nothing.
 */
export class DatabaseClock {
  /** The database's time at the last measurement, and this process's monotonic time then. */
  private anchor = { databaseMs: Date.now(), monotonicMs: performance.now() };
  private timer?: NodeJS.Timeout;

  constructor(private readonly sql: postgres.Sql) {}

  async start(): Promise<void> {
    await this.measure();
    this.timer = setInterval(() => this.measure().catch(() => {
      // Keep the last offset: a database that cannot be reached fails the transactions anyway.
    }), REFRESH_MS);
    this.timer.unref();
  }

  /** From the monotonic clock: a step of this machine's wall clock (NTP, a resumed VM) changes nothing. */
  now(): number {
    return Math.round(this.anchor.databaseMs + (performance.now() - this.anchor.monotonicMs));
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async measure(): Promise<void> {
    const sent = performance.now();
    const [row] = await this.sql`SELECT extract(epoch FROM clock_timestamp()) * 1000 AS ms`;
    const received = performance.now();
    const databaseMs = Number(row?.ms);
    if (Number.isFinite(databaseMs)) this.anchor = { databaseMs, monotonicMs: (sent + received) / 2 };
  }
}
