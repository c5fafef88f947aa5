import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { FirstCheckpointPin } from './verify.js';

/** The pin file's name: it lives beside the pinned audit key (audit-key.jwk), and is copied with it. */
export const FIRST_CHECKPOINT_PIN_FILE = 'audit-first-checkpoint.json';

/** Where the first checkpoint is pinned for the audit key pinned in `keyPath`. */
export function firstCheckpointPinPath(keyPath: string): string {
  return join(dirname(keyPath), FIRST_CHECKPOINT_PIN_FILE);
}

/** The pin, or undefined when the file does not exist; a file that exists but is malformed is an error. */
export function readFirstCheckpointPin(path: string): FirstCheckpointPin | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const pin = JSON.parse(text) as Partial<FirstCheckpointPin>;
  if (!Number.isSafeInteger(pin.uptoSeq) || pin.uptoSeq! < 1 || typeof pin.headHash !== 'string' || !/^[0-9a-f]{64}$/.test(pin.headHash)) {
    throw new Error(`${path}: "uptoSeq" (a record number) and "headHash" (64 hex digits) are required`);
  }
  return { uptoSeq: pin.uptoSeq!, headHash: pin.headHash };
}

/**
 * Writes the pin unless the file exists (another replica, or an earlier start, wrote it first), and
 * returns what the file holds then.
 */
export function pinFirstCheckpoint(path: string, pin: FirstCheckpointPin): FirstCheckpointPin {
  try {
    writeFileSync(path, JSON.stringify({ uptoSeq: pin.uptoSeq, headHash: pin.headHash }) + '\n', { mode: 0o644, flag: 'wx' });
    return pin;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return readFirstCheckpointPin(path)!;
  }
}
