import type { KeyType } from './key-types.js';

/** A public JWK as stored and served: never holds private members. */
export interface PublicJwk {
  kty: 'EC' | 'OKP' | 'RSA';
  crv?: string;
  x?: string;
  y?: string;
  n?: string;
  e?: string;
}

/** What the service knows about a key. The private half lives only in the HSM. */
export interface KeyRecord {
  /** Path-like unique name, e.g. `prod/relayer/hot-1`. */
  name: string;
  type: KeyType;
  /** Hex of the HSM objects' CKA_ID: how the keystore finds the key pair. */
  hsmId: string;
  publicJwk: PublicJwk;
  labels: Record<string, string>;
  createdAt: Date;
  /** False while the key is frozen (DisableKey): nothing is signed with it. */
  enabled: boolean;
  lastUsedAt?: Date;
  /** Signatures released with this key. */
  useCount: number;
  /** JWT keys: the active version's kid (its public key and HSM id are the ones above). */
  kid?: string;
}
