import type { Key__Output } from '../api/generated/signer/v1/Key.js';
import type { RemoteSignerClient } from './signer-client.js';
import { SignerError } from './signer-error.js';

/** A secp256k1 key as the Ethereum adapters need it: GetKey, and WRONG_KEY_TYPE for any other type. */
export async function ethereumKey(client: RemoteSignerClient, keyName: string): Promise<{ key: Key__Output; address: string }> {
  const key = await client.call<Key__Output>('GetKey', { name: keyName });
  if (!key.ethereumAddress) throw new SignerError('WRONG_KEY_TYPE', `key "${keyName}" is not a secp256k1 key (type ${key.type})`, { field: 'key_name' });
  return { key, address: key.ethereumAddress };
}
