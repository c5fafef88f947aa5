import { SignerError } from '../domain/errors.js';
import type { Ledger } from '../store/store.js';

/** Caps on open (pending or approved) parked requests, so no signer can fill the approvers' queue. */
export interface ParkingLimits {
  perKey: number;
  perRequester: number;
}

export const DEFAULT_PARKING_LIMITS: ParkingLimits = { perKey: 100, perRequester: 20 };

/** Throws LIMIT_EXCEEDED when parking one more request would pass a cap. Runs inside the parking transaction. */
export async function checkParkingCaps(tx: Ledger, keyName: string, requester: string, limits: ParkingLimits): Promise<void> {
  const open = await tx.openParked(keyName, requester);
  if (open.key >= limits.perKey) {
    throw new SignerError('LIMIT_EXCEEDED', `key "${keyName}" already has ${open.key} requests waiting for approval (the limit is ${limits.perKey})`, undefined, { reason: 'PARKING_LIMIT' });
  }
  if (open.requester >= limits.perRequester) {
    throw new SignerError('LIMIT_EXCEEDED', `you already have ${open.requester} requests waiting for approval (the limit is ${limits.perRequester})`, undefined, { reason: 'PARKING_LIMIT' });
  }
}
