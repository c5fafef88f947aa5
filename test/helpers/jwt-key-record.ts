import type { KeyRecord } from '../../src/domain/key.js';

/** A P-256 JWT key as the JWT scheme sees it before the HSM is involved (`prepare` needs no real key). */
export function jwtKeyRecord(name: string, kid: string): KeyRecord {
  return {
    name,
    type: 'p256',
    hsmId: '00',
    publicJwk: { kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA' },
    labels: {},
    createdAt: new Date(0),
    enabled: true,
    useCount: 0,
    kid,
  };
}
