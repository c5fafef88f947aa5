/**
 * A backend that gets JWTs from the signer, and a verifier that checks them with jose through the
 * service's JWKS URL, as any standard JOSE library would. The token itself is never printed: it is a
 * credential.
 *
 *   npm start                                     # in another terminal
 *   npm run build && node dist/examples/create-dev-keys.js   # once: creates dev/backend/jwt-1
 *   node dist/examples/backend-jwt.js
 *
 * Environment (defaults match `npm start` and policies/backend-jwt.yaml):
 *   SIGNER_ADDRESS      localhost:50051
 *   SIGNER_CLIENT_CA, SIGNER_CLIENT_CERT, SIGNER_CLIENT_KEY   data/pki/ca.pem, backend.pem, backend-key.pem
 *   SIGNER_KEY          dev/backend/jwt-1
 *   SIGNER_JWKS_URL     http://<host of SIGNER_ADDRESS>:50052/.well-known/jwks.json (the default --jwks-address)
 *   JWT_ISSUER, JWT_AUDIENCE, JWT_SUBJECT   https://auth.example.com, api.example.com, user:42
 */
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { RemoteJwtSigner, RemoteSignerClient, SignerError } from 'hsm-remote-signer/client/core';

const env = process.env;
const client = new RemoteSignerClient({
  address: env.SIGNER_ADDRESS ?? 'localhost:50051',
  tls: { ca: env.SIGNER_CLIENT_CA ?? 'data/pki/ca.pem', cert: env.SIGNER_CLIENT_CERT ?? 'data/pki/backend.pem', key: env.SIGNER_CLIENT_KEY ?? 'data/pki/backend-key.pem' },
});
const keyName = env.SIGNER_KEY ?? 'dev/backend/jwt-1';
const issuer = env.JWT_ISSUER ?? 'https://auth.example.com';
const audience = env.JWT_AUDIENCE ?? 'api.example.com';
const jwt = new RemoteJwtSigner(client, keyName, env.SIGNER_JWKS_URL ? { jwksUrl: env.SIGNER_JWKS_URL } : {});

// The verifier side: in a real system another service, which knows only the JWKS URL. jose caches the
// set and refetches it once on an unknown kid, which is what key rotation needs.
const jwks = createRemoteJWKSet(new URL(jwt.jwksUrl));

async function main(): Promise<void> {
  // The service sets alg and kid, adds iat and jti, and checks the claims against the key's policy.
  const signed = await jwt.signJwt({ iss: issuer, sub: env.JWT_SUBJECT ?? 'user:42', aud: audience, scope: 'orders:read' }, { expiresInSeconds: 600 });
  console.log(`signed a JWT with kid ${signed.kid}, expires ${signed.expiresAt.toISOString()}`);

  const { payload, protectedHeader } = await jwtVerify(signed.token, jwks, { issuer, audience, algorithms: ['ES256', 'EdDSA', 'RS256', 'PS256'] });
  console.log(`verified with jose through ${jwt.jwksUrl}: alg ${protectedHeader.alg}, sub ${payload.sub}, aud ${payload.aud}, scope ${payload.scope}`);
}

main()
  .catch((error: unknown) => {
    if (error instanceof SignerError && error.code === 'KEY_NOT_FOUND') {
      console.error(`key ${keyName} not found: create it with node dist/examples/create-dev-keys.js (or CreateJwtKey as an admin)`);
    } else {
      console.error(`backend JWT example failed: ${(error as Error).message}${error instanceof SignerError ? ` [${error.code}${error.reason ? ` ${error.reason}` : ''}]` : ''}`);
    }
    process.exitCode = 1;
  })
  .finally(() => client.close());
