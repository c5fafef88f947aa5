import type { Logger } from '../domain/logger.js';

/** One JSON object per line on stderr. */
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
    this.write(JSON.stringify({ time: new Date().toISOString(), level, message, ...fields }));
  }
}

/** For tests and tools that want quiet. */
export const silentLogger: Logger = { info() {}, warn() {}, error() {} };
