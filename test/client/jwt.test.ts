import test from 'ava';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { RemoteJwtSigner, RemoteSignerClient, SignerError, defaultJwksUrl } from '../../src/client/index.js';
import { startTestSigner, type TestSigner } from '../helpers/signer.js';
import { join } from 'node:path';
import Database from 'better-sqlite3';

const ISSUER = 'https://auth.example.com';
const POLICY = `
key: "jwt/**"
jwt:
  issuers: ["${ISSUER}"]
  audiences: [api]
  subjects: ["user:*"]
  max_ttl: 1h
  required_claims: [sub]
`;

let t0: TestSigner;
let client: RemoteSignerClient;
let jwt: RemoteJwtSigner;

test.before(async () => {
  t0 = await startTestSigner({}, { 'jwt.yaml': POLICY });
  await t0.call('CreateJwtKey', { name: 'jwt/es256', algorithm: 'JWT_ALGORITHM_ES256', publishAhead: '0s' });
  client = new RemoteSignerClient({ address: `127.0.0.1:${t0.signer.port}`, tls: 'insecure' });
  jwt = new RemoteJwtSigner(client, 'jwt/es256', { jwksUrl: t0.signer.jwks!.url });
});
test.after.always(async () => {
  client?.close();
  await t0?.stop();
});

test('signJwt: jose verifies the token through the HTTP JWKS at jwksUrl', async (t) => {
  const signed = await jwt.signJwt({ iss: ISSUER, sub: 'user:42', aud: 'api', role: 'reader' });
  const { payload, protectedHeader } = await jwtVerify(signed.token, createRemoteJWKSet(new URL(jwt.jwksUrl)), {
    issuer: ISSUER,
    audience: 'api',
    algorithms: ['ES256'],
  });
  t.is(protectedHeader.kid, signed.kid);
  t.is(payload.sub, 'user:42');
  t.is(payload.role, 'reader');
  t.is(signed.expiresAt.getTime(), payload.exp! * 1000);
});

test('expiresInSeconds sets exp', async (t) => {
  const before = Math.floor(Date.now() / 1000);
  const signed = await jwt.signJwt({ iss: ISSUER, sub: 'user:7', aud: 'api' }, { expiresInSeconds: 120 });
  const exp = signed.expiresAt.getTime() / 1000;
  t.true(exp >= before + 120 && exp <= Math.floor(Date.now() / 1000) + 120);
  const { payload } = await jwtVerify(signed.token, createRemoteJWKSet(new URL(jwt.jwksUrl)));
  t.is(payload.exp, exp);
});

test('claims the policy refuses: PERMISSION_DENIED naming the claim', async (t) => {
  const failure = await t.throwsAsync(jwt.signJwt({ iss: ISSUER, sub: 'admin:1', aud: 'api' }), { instanceOf: SignerError, message: /claim "sub"/ });
  t.is(failure!.code, 'POLICY_DENIED');
});

test('bad arguments are refused before any call, naming the field', async (t) => {
  await t.throwsAsync(jwt.signJwt([] as unknown as Record<string, unknown>), { instanceOf: TypeError, message: 'claims must be a JSON object' });
  await t.throwsAsync(jwt.signJwt({ sub: 'user:1' }, { expiresInSeconds: 0 }), { instanceOf: RangeError, message: /expiresInSeconds must be a positive/ });
  await t.throwsAsync(jwt.signJwt({ sub: 'user:1' }, { expiresInSeconds: 1.5 }), { instanceOf: RangeError });
});

test('the default JWKS URL is the service default listener on the gRPC host', (t) => {
  t.is(defaultJwksUrl('signer.internal:50051'), 'http://signer.internal:50052/.well-known/jwks.json');
  t.is(defaultJwksUrl('127.0.0.1:50051'), 'http://127.0.0.1:50052/.well-known/jwks.json');
  t.is(defaultJwksUrl('[::1]:50051'), 'http://[::1]:50052/.well-known/jwks.json');
  t.is(new RemoteJwtSigner(client, 'jwt/es256').jwksUrl, 'http://127.0.0.1:50052/.well-known/jwks.json');
  t.throws(() => defaultJwksUrl('dns:///signer.internal:50051'), { message: /cannot derive the JWKS URL .*: set options.jwksUrl/ });
});

test('the token header carries the kid the JWKS lists', async (t) => {
  const signed = await jwt.signJwt({ iss: ISSUER, sub: 'user:1', aud: 'api' });
  const { keys } = (await (await fetch(jwt.jwksUrl)).json()) as { keys: Array<{ kid: string }> };
  t.true(keys.some((key) => key.kid === decodeProtectedHeader(signed.token).kid));
});

test.serial('SignJwt gets no request id of the client\'s own (the service would keep every token); one the caller gives is kept', async (t) => {
  const requestIds = () => {
    const db = new Database(join(t0.dir, 'signer.db'), { readonly: true });
    const ids = (db.prepare("SELECT request_id FROM sign_requests WHERE method = 'SignJwt'").all() as Array<{ request_id: string }>).map((r) => r.request_id);
    db.close();
    return new Set(ids);
  };
  const before = requestIds();
  await jwt.signJwt({ iss: ISSUER, sub: 'user:7', aud: 'api' });
  await client.call('SignJwt', { keyName: 'jwt/es256', claimsJson: JSON.stringify({ iss: ISSUER, sub: 'user:8', aud: 'api' }), requestId: 'mine-1' });
  const added = [...requestIds()].filter((id) => !before.has(id));
  t.is(added.length, 2);
  t.true(added.some((id) => id.startsWith('server/')), 'the service\'s own id, whose result is not kept');
  t.true(added.includes('mine-1'));
});
