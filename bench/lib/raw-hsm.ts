import { randomBytes } from 'node:crypto';
import type { KeyType, SignMechanism } from '../../src/domain/key-types.js';
import { Hsm } from '../../src/keystore/hsm.js';

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
