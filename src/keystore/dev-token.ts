import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { missingPlatform, SOFTHSM_MODULE } from './platform.js';

export { SOFTHSM_MODULE };
const INIT_SCRIPT = fileURLToPath(new URL('../../../softhsm/init-token.sh', import.meta.url));

export interface DevToken {
  modulePath: string;
  configPath: string;
  /** False when the token already existed (nothing was changed). */
  created: boolean;
}

/**
 * Creates (once) a project-local SoftHSM2 token for development and tests, and points this process's
 * SOFTHSM2_CONF at it. The SO PIN is random and kept beside the token (0600): development only.
 */
export function ensureDevToken(dir: string, label: string, pin: string): DevToken {
  const missing = missingPlatform('start');
  // Without --pkcs11-module the service needs SoftHSM: one line that says how to get it, not a trace.
  if (missing) throw new Error(`the development token needs SoftHSM2 (or give --pkcs11-module): ${missing}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const soPinPath = join(dir, 'so-pin');
  if (!existsSync(soPinPath)) writeFileSync(soPinPath, randomBytes(16).toString('hex'), { mode: 0o600 });
  const said = execFileSync(INIT_SCRIPT, [dir, label], {
    env: { ...process.env, SIGNER_HSM_PIN: pin, SIGNER_HSM_SO_PIN: readFileSync(soPinPath, 'utf8').trim() },
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
  });
  const configPath = join(dir, 'softhsm2.conf');
  // SoftHSM reads this at C_Initialize, which happens after this returns.
  process.env.SOFTHSM2_CONF = configPath;
  // The script says which it did (and nothing else: PINs are never echoed).
  return { modulePath: SOFTHSM_MODULE, configPath, created: !said.includes('already initialised') };
}
