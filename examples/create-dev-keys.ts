/**
 * Creates the keys the other examples use, with the development admin certificate: the relayer's
 * secp256k1 key and the backend's ES256 JWT key. Run once after `npm start`; running it again is fine.
 *
 *   npm start                                # in another terminal
 *   npm run build && node dist/examples/create-dev-keys.js
 *
 * Environment (defaults match `npm start`): SIGNER_ADDRESS (localhost:50051), SIGNER_CLIENT_CA,
 * SIGNER_CLIENT_CERT, SIGNER_CLIENT_KEY (data/pki/ca.pem, admin.pem, admin-key.pem).
 */
import { RemoteSignerClient, SignerError } from 'hsm-remote-signer/client/core';

const env = process.env;
const client = new RemoteSignerClient({
  address: env.SIGNER_ADDRESS ?? 'localhost:50051',
  tls: { ca: env.SIGNER_CLIENT_CA ?? 'data/pki/ca.pem', cert: env.SIGNER_CLIENT_CERT ?? 'data/pki/admin.pem', key: env.SIGNER_CLIENT_KEY ?? 'data/pki/admin-key.pem' },
});

/** Runs a create call; a key that exists already is fine. */
async function create(name: string, method: string, request: object): Promise<void> {
  try {
    await client.call(method, { name, ...request });
    console.log(`created ${name}`);
  } catch (error) {
    if (!(error instanceof SignerError && error.code === 'KEY_EXISTS')) throw error;
    console.log(`${name} exists already`);
  }
}

try {
  // Governed by policies/relayer-hot.yaml (*/relayer/*); the relayer certificate may sign with it.
  await create('dev/relayer/hot-1', 'CreateKey', { type: 'KEY_TYPE_SECP256K1', labels: { env: 'dev', purpose: 'example' } });
  // Governed by policies/backend-jwt.yaml (*/backend/jwt-*). publish_ahead 0s: the first version signs at
  // once instead of after the default 5 minutes in the JWKS (fine for development, not for production).
  await create('dev/backend/jwt-1', 'CreateJwtKey', { algorithm: 'JWT_ALGORITHM_ES256', publishAhead: '0s', rotationPeriod: '30d' });
} catch (error) {
  console.error(`create-dev-keys failed: ${(error as Error).message}`);
  process.exitCode = 1;
} finally {
  client.close();
}
