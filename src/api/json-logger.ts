import type { Logger } from '../domain/logger.js';

/**
 * Fields that are never logged, at any depth, whatever they hold: callers must not pass secrets, and
 * this keeps one passed by mistake out of the log (as pino's `redact` would).
 */
const SECRET_FIELD = /^(pin|password|passphrase|secret|privateKey|token|jwt|authorization)$/i;
/** A whole JWT (three base64url parts, the header starting `{"`): cut from any text, error messages included. */
const WHOLE_JWT = /eyJ[\w-]*\.[\w-]+\.[\w-]+/g;

function redact(name: string, value: unknown): unknown {
  if (SECRET_FIELD.test(name)) return '[redacted]';
  return typeof value === 'string' ? value.replace(WHOLE_JWT, '[JWT redacted]') : value;
}

/** One JSON object per line on stderr, written synchronously so nothing is lost on exit. */
export class JsonLogger implements Logger {
  constructor(private readonly write: (line: string) => void = (line) => process.stderr.write(line + '\n')) {}

  info(message: string, fields?: Record<string, unknown>): void {
    this.emit('info', message, fields);
  }

  warn(message: string, fields?: Record<string, unknown>): void {
    this.emit('warn', message, fields);
  }

  error(message: string, fields?: Record<string, unknown>): void {
    this.emit('error', message, fields);
  }

  private emit(level: string, message: string, fields?: Record<string, unknown>): void {
    this.write(JSON.stringify({ time: new Date().toISOString(), level, message, ...fields }, (name, value: unknown) => redact(name, value)));
  }
}

/** For tests and tools that want quiet. */
export const silentLogger: Logger = { info() {}, warn() {}, error() {} };
