import type postgres from 'postgres';

/** How often the offset to the database clock is measured again. */
const REFRESH_MS = 10_000;

/**
 * This machine's clock corrected to the database's: replicas on machines whose clocks drift then
 * agree on windows and expiries. The offset is measured at open and every 10 s, half the round trip
 * corrected; between measurements `now()` costs nothing.
 */
export class DatabaseClock {
  private offsetMs = 0;
  private timer?: NodeJS.Timeout;

  constructor(private readonly sql: postgres.Sql) {}

  async start(): Promise<void> {
    await this.measure();
    this.timer = setInterval(() => this.measure().catch(() => {
      // Keep the last offset: a database that cannot be reached fails the transactions anyway.
    }), REFRESH_MS);
    this.timer.unref();
  }

  now(): number {
    return Date.now() + this.offsetMs;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async measure(): Promise<void> {
    const sent = Date.now();
    const [row] = await this.sql`SELECT extract(epoch FROM clock_timestamp()) * 1000 AS ms`;
    const received = Date.now();
    // Whole milliseconds: times are stored as BIGINT.
    this.offsetMs = Math.round(Number(row?.ms) - (sent + received) / 2);
  }
}
