/**
 * Fault injection FOR TESTS ONLY. Reliability tests make a real service misbehave (a slow HSM, a
 * crash at a chosen point of the signing path) through one environment variable, read once when
 * this module loads:
 *
 *   SIGNER_TEST_FAULTS=hsm-delay-ms=500,crash=after-reservation
 *
 * Unset, every fault is a no-op costing one property read. Set, the service logs a loud warning at
 * start (src/app.ts) and prints it in its banner. Never set it in production: `crash` kills the
 * process with SIGKILL on purpose.
 */

export const FAULTS_ENV = 'SIGNER_TEST_FAULTS';

/** Places in the signing path where `crash=<point>` kills the process. */
export const CRASH_POINTS = [
  /** The intent transaction (reservation, nonce claim, request record) committed; the HSM not called yet. */
  'after-reservation',
  /** The HSM returned a signature; its audit record is not written yet. */
  'after-hsm-sign',
  /** The audit record and stored result committed; the reply not sent yet. */
  'after-record',
] as const;

export type CrashPoint = (typeof CRASH_POINTS)[number];

export interface FaultSettings {
  /** Extra time every HSM signature takes, in milliseconds (a timer, never a busy wait). */
  hsmDelayMs: number;
  /** Where the process kills itself with SIGKILL, if anywhere. */
  crashAt?: CrashPoint;
}

const NO_FAULTS: FaultSettings = { hsmDelayMs: 0 };
const MAX_DELAY_MS = 600_000;

/** Parses `name=value,name=value`. Throws naming the offending part: a typo must not silently disable a fault. */
export function parseFaults(text: string): FaultSettings {
  const settings: FaultSettings = { hsmDelayMs: 0 };
  for (const part of text.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const [name, value, extra] = part.split('=');
    if (value === undefined || extra !== undefined) throw new Error(`${FAULTS_ENV}: "${part}" is not name=value`);
    switch (name) {
      case 'hsm-delay-ms': {
        const ms = Number(value);
        if (!/^\d+$/.test(value) || ms > MAX_DELAY_MS) throw new Error(`${FAULTS_ENV}: hsm-delay-ms must be an integer from 0 to ${MAX_DELAY_MS}`);
        settings.hsmDelayMs = ms;
        break;
      }
      case 'crash':
        if (!(CRASH_POINTS as readonly string[]).includes(value)) {
          throw new Error(`${FAULTS_ENV}: crash must be one of ${CRASH_POINTS.join(', ')} (got "${value}")`);
        }
        settings.crashAt = value as CrashPoint;
        break;
      default:
        throw new Error(`${FAULTS_ENV}: unknown fault "${name}" (known: hsm-delay-ms, crash)`);
    }
  }
  return settings;
}

export class Faults {
  private readonly settings: FaultSettings;
  /** Why the variable could not be parsed; start-up refuses with it (see `announce`). */
  private readonly problem?: string;

  constructor(readonly spec: string | undefined) {
    let settings = NO_FAULTS;
    if (spec !== undefined && spec !== '') {
      try {
        settings = parseFaults(spec);
      } catch (error) {
        this.problem = (error as Error).message;
      }
    }
    this.settings = settings;
  }

  /** Whether the variable is set at all (even to something invalid). */
  get active(): boolean {
    return this.spec !== undefined && this.spec !== '';
  }

  hsmDelayMs(): number {
    return this.settings.hsmDelayMs;
  }

  /** Kills this process at once, as a power cut would, if the variable names this point. */
  crashPoint(name: CrashPoint): void {
    if (this.settings.crashAt === name) process.kill(process.pid, 'SIGKILL');
  }

  /**
   * Called once at start: refuses to start on an invalid spec, and warns loudly when faults are on.
   * Returns the warning, for the start-up banner.
   */
  announce(warn: (message: string, fields: Record<string, unknown>) => void): string | undefined {
    if (this.problem) throw new Error(this.problem);
    if (!this.active) return undefined;
    const message = `${FAULTS_ENV} is set: TEST FAULT INJECTION IS ACTIVE (${this.spec}). For tests only; never in production.`;
    warn(message, { faults: this.spec });
    return message;
  }
}

/** The process-wide faults, from the environment at load time. */
export const faults = new Faults(process.env[FAULTS_ENV]);
