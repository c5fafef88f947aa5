import { SignerError } from '../../domain/errors.js';

// SQLSTATEs after which the same work may simply run again: deadlock detected, serialization failure.
const RETRYABLE = new Set(['40P01', '40001']);

// SQLSTATEs that mean "the database cannot serve us now", not a bug in the query: lock_timeout,
// statement timeout, idle-in-transaction timeout, shutdown, too many connections, crash recovery,
// read-only server, disk full, and every connection exception (class 08).
const UNAVAILABLE_SQLSTATES = new Set(['55P03', '57014', '25P03', '57P01', '57P02', '57P03', '53300', '25006', '53100']);

// What postgres.js and Node's sockets report when there is no usable connection.
const UNAVAILABLE_CLIENT_CODES = new Set([
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOENT',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
]);

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : '';
}

export const isRetryable = (error: unknown): boolean => RETRYABLE.has(codeOf(error));

export function isUnavailable(error: unknown): boolean {
  const code = codeOf(error);
  return UNAVAILABLE_SQLSTATES.has(code) || code.startsWith('08') || UNAVAILABLE_CLIENT_CODES.has(code);
}

// The session itself is gone: the server closed it, or the socket broke. Its session locks went with it.
const SESSION_LOST_CODES = new Set(['CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'ECONNRESET', 'EPIPE', '57P01', '57P02', '57P03']);

export function isSessionLost(error: unknown): boolean {
  const code = codeOf(error);
  return SESSION_LOST_CODES.has(code) || code.startsWith('08');
}

/**
 * The session was lost somewhere in the causes of `error` (a work's failure wraps the statement's):
 * no statement may follow on that reserved connection, and it must not be given back to the pool.
 * postgres.js 3.4.9 would put a closed reserved connection among its open ones, where every later
 * query or reservation would land on it and fail.
 */
export function lostSessionIn(error: unknown): boolean {
  for (let cause = error, depth = 0; cause !== undefined && cause !== null && depth < 5; depth++) {
    if (isSessionLost(cause)) return true;
    const next = cause as { error?: unknown; cause?: unknown };
    cause = next.cause ?? next.error;
  }
  return false;
}

/** A unique constraint was violated (SQLSTATE 23505). */
export const isUniqueViolation = (error: unknown): boolean => codeOf(error) === '23505';

/** Database failures that mean the state cannot be reached or written are STORE_UNAVAILABLE; others pass through. */
export function storeError(error: unknown): unknown {
  if (error instanceof SignerError) return error;
  if (isUnavailable(error)) {
    return new SignerError('STORE_UNAVAILABLE', 'the database cannot be reached; nothing was signed', undefined, { cause: error });
  }
  return error;
}
