import type postgres from 'postgres';

/**
 * Whether keys are enabled, read for every sign request just before the HSM. The questions asked in
 * one turn of the event loop (a group commit releases many requests at once) go out as one statement:
 * one socket write and one backend wake-up instead of one per request.
 */
export class EnabledFlags {
  private waiting = new Map<string, Array<{ resolve: (enabled: boolean) => void; reject: (error: unknown) => void }>>();

  constructor(private readonly sql: postgres.Sql) {}

  isEnabled(name: string): Promise<boolean> {
    return new Promise((resolve, reject) => {
      if (this.waiting.size === 0) setImmediate(() => this.flush());
      const callers = this.waiting.get(name) ?? [];
      callers.push({ resolve, reject });
      this.waiting.set(name, callers);
    });
  }

  private flush(): void {
    const asked = this.waiting;
    this.waiting = new Map();
    this.sql`SELECT name, enabled FROM keys WHERE name = ANY(${[...asked.keys()]}::text[])`.then(
      (rows) => {
        const enabled = new Map(rows.map((row) => [String(row.name), row.enabled === true]));
        for (const [name, callers] of asked) for (const { resolve } of callers) resolve(enabled.get(name) ?? false);
      },
      (error: unknown) => {
        for (const callers of asked.values()) for (const { reject } of callers) reject(error);
      },
    );
  }
}
