/**
 * libpq accepts a Unix socket directory as the `host` query parameter
 * (`postgres://signer@localhost/db?host=/run/postgresql`); postgres.js would send it to the server
 * as a startup setting instead. This turns it into the client's socket `path` option.
 */
export function socketOptions(url: string): { url: string; path?: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`the database URL ${redactUrl(url)} is not a URL (postgres://USER@HOST:PORT/DB)`);
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new Error(`the database URL ${redactUrl(url)} must start with postgres:// or postgresql://`);
  }
  const host = parsed.searchParams.get('host');
  if (host === null || !host.startsWith('/')) return { url };
  const port = parsed.searchParams.get('port') ?? (parsed.port || '5432');
  parsed.searchParams.delete('host');
  parsed.searchParams.delete('port');
  return { url: parsed.toString(), path: `${host}/.s.PGSQL.${port}` };
}

/** The URL without its password: the only form that may appear in a log line or an error. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^:/@?#]*):[^@/?#]*@/i, '$1:***@');
}
