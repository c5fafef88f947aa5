import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { DEV_PIN } from '../../src/config.js';
import type { KeyType, SignMechanism } from '../../src/domain/key-types.js';
import { ensureDevToken, SOFTHSM_MODULE } from '../../src/keystore/dev-token.js';
import { Hsm } from '../../src/keystore/hsm.js';
import { startCpuReading } from './proc-cpu.js';

/**
 * The ceiling: signatures per second straight from the PKCS#11 layer, in-process, with the service's
 * session-pool code and size, `inFlight` calls at a time, for `seconds`. No decoding, policy, database
 * or finishing: what the service adds is measured against this.
 */
export async function rawSignRate(hsm: Hsm, type: KeyType, mechanism: SignMechanism, inFlight: number, seconds: number): Promise<number> {
  const key = await hsm.generateKeyPair(type, `raw-bench-${type}-${randomBytes(4).toString('hex')}`);
  const input = randomBytes(32);
  await hsm.sign(key.hsmId, mechanism, input); // handle lookup, first-call costs
  let signed = 0;
  const deadline = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < deadline) {
        await hsm.sign(key.hsmId, mechanism, input);
        signed++;
      }
    }),
  );
  return signed / seconds;
}

/** A fresh development token in `dir`, opened in this process with the service's HSM layer. */
export function openRawHsm(dir: string, sessions: number): Hsm {
  ensureDevToken(join(dir, 'raw-softhsm'), 'raw', DEV_PIN);
  return Hsm.open({ modulePath: SOFTHSM_MODULE, tokenLabel: 'raw', pin: DEV_PIN, sessions });
}

/**
 * `rawSignRate` with the CPU it cost: this process's CPU (the event loop and libuv's threads, where
 * SoftHSM signs) per signature, read from /proc around the run (key generation included: negligible).
 */
export async function rawSignCost(hsm: Hsm, type: KeyType, mechanism: SignMechanism, inFlight: number, seconds: number): Promise<{ perSecond: number; cpuPerSign: number }> {
  const read = startCpuReading({ pids: () => [process.pid] });
  const perSecond = await rawSignRate(hsm, type, mechanism, inFlight, seconds);
  return { perSecond, cpuPerSign: read() / (perSecond * seconds) };
}
