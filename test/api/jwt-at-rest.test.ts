import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createLocalJWKSet, jwtVerify } from 'jose';
import type { SignJwtResponse__Output } from '../../src/api/generated/signer/v1/SignJwtResponse.js';
import type { GetJwksResponse__Output } from '../../src/api/generated/signer/v1/GetJwksResponse.js';
import { AT_REST_KEY_LABEL } from '../../src/keystore/at-rest-key.js';
import { encodeResult } from '../../src/service/result-codec.js';
import { MIGRATIONS } from '../../src/store/sqlite/migrations.js';
import { secretKeyProtection } from '../helpers/pkcs11.js';
import * as grpc from '@grpc/grpc-js';
import { rpcFailure, startTestSigner, type TestSigner } from '../helpers/signer.js';

const POLICY = `
key: "jwt/**"
jwt:
  max_ttl: 1h
`;

const clock = { now: Date.parse('2026-11-21T12:00:00Z') };
let t0: TestSigner;
test.before(async () => {
  t0 = await startTestSigner({}, { 'jwt.yaml': POLICY }, () => clock.now);
  for (const algorithm of ['ES256', 'EdDSA']) await t0.call('CreateJwtKey', { name: `jwt/${algorithm.toLowerCase()}`, algorithm: `JWT_ALGORITHM_${algorithm.toUpperCase()}` });
});
test.after.always(async () => t0?.stop());

/** Every file SQLite keeps this database in, as text: the database, its WAL and its shared memory. */
function databaseBytes(): string {
  const path = join(t0.dir, 'signer.db');
  return [path, `${path}-wal`, `${path}-shm`].filter(existsSync).map((file) => readFileSync(file).toString('latin1')).join('\n');
}

/** Every JWT-shaped string in `text` that jose accepts against the served JWKS. */
async function verifiableTokens(text: string): Promise<string[]> {
  const jwks = createLocalJWKSet(JSON.parse((await t0.call<GetJwksResponse__Output>('GetJwks', {})).jwksJson));
  const verified: string[] = [];
  for (const [candidate] of text.matchAll(/eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/g)) {
    try {
      await jwtVerify(candidate, jwks, { currentDate: new Date(clock.now) });
      verified.push(candidate);
    } catch {
      // not a token we signed, or cut short: fine
    }
  }
  return verified;
}

test.serial('a sealed token moved to another request id does not open there: the retry fails instead of handing it out', async (t) => {
  const claimsJson = '{"sub":"user:2"}';
  await t0.call('SignJwt', { keyName: 'jwt/es256', claimsJson, requestId: 'move.from' });
  await t0.call('SignJwt', { keyName: 'jwt/es256', claimsJson, requestId: 'move.to' });
  const db = new Database(join(t0.dir, 'signer.db'));
  db.prepare("UPDATE sign_requests SET result = (SELECT result FROM sign_requests WHERE request_id = 'move.from') WHERE request_id = 'move.to'").run();
  db.close();
  const moved = await rpcFailure(t0.call('SignJwt', { keyName: 'jwt/es256', claimsJson, requestId: 'move.to' }));
  t.is(moved.code, grpc.status.INTERNAL);
  t.true(t0.logs.some((line) => line.includes('altered or moved')));
  await t.notThrowsAsync(t0.call('SignJwt', { keyName: 'jwt/es256', claimsJson, requestId: 'move.from' }));
});

test.serial('tokens kept for idempotent replay are sealed: the database file never holds a verifiable token (regression: whole JWTs in sign_requests.result)', async (t) => {
  const tokens: string[] = [];
  for (const keyName of ['jwt/es256', 'jwt/eddsa']) {
    const first = await t0.call<SignJwtResponse__Output>('SignJwt', { keyName, claimsJson: '{"sub":"user:1"}', requestId: `login-${keyName.replace("/", ".")}` });
    clock.now += 1000; // a later iat would change the token if it were signed again
    const retried = await t0.call<SignJwtResponse__Output>('SignJwt', { keyName, claimsJson: '{"sub":"user:1"}', requestId: `login-${keyName.replace("/", ".")}` });
    // The replay is the very token, opened from its sealed copy.
    t.is(retried.token, first.token);
    t.is(retried.kid, first.kid);
    tokens.push(first.token);
  }
  // The test can find tokens this way: the JWKS verifies what the service returned.
  t.deepEqual(await verifiableTokens(tokens.join(' ')), tokens);

  const stored = databaseBytes();
  t.deepEqual(await verifiableTokens(stored), []);
  for (const token of tokens) {
    const [, , signature] = token.split('.');
    t.false(stored.includes(signature!), 'a token signature is in the database files');
  }
  const db = new Database(join(t0.dir, 'signer.db'), { readonly: true });
  const rows = db.prepare("SELECT result FROM sign_requests WHERE method = 'SignJwt'").all() as Array<{ result: string }>;
  db.close();
  t.is(rows.length, 4);
  for (const { result } of rows) t.deepEqual(Object.keys(JSON.parse(result)), ['$sealed']);

  // The sealing key is one AES key on the token that cannot leave it and only encrypts.
  t.deepEqual(secretKeyProtection('test-token', AT_REST_KEY_LABEL), [
    { sensitive: true, extractable: false, encrypt: true, wrap: false, unwrap: false, sign: false, derive: false },
  ]);

  // Once the service has stopped and SQLite folded the WAL into the database, still nothing.
  await t0.stop();
  t.deepEqual(await verifiableTokensOffline(databaseBytes(), tokens), []);
});

test.serial('the migration drops plaintext tokens earlier versions kept; a retry of such an id is refused, not answered', async (t) => {
  // A service of its own: the plaintext written here stays in SQLite's free pages and WAL (see the docs on VACUUM).
  const t1 = await startTestSigner({}, { 'jwt.yaml': POLICY });
  t.teardown(() => t1.stop());
  await t1.call('CreateJwtKey', { name: 'jwt/es256', algorithm: 'JWT_ALGORITHM_ES256' });
  const claimsJson = '{"sub":"user:3"}';
  const signed = await t1.call<SignJwtResponse__Output>('SignJwt', { keyName: 'jwt/es256', claimsJson, requestId: 'legacy.1' });
  const db = new Database(join(t1.dir, 'signer.db'));
  // What the service stored before results were sealed: the whole token.
  const plaintext = encodeResult({ token: signed.token, kid: signed.kid, expiresAtMs: Date.parse(signed.expireTime) });
  db.prepare("UPDATE sign_requests SET result = ? WHERE request_id = 'legacy.1'").run(plaintext);
  db.exec(MIGRATIONS.find((sql) => sql.includes("SET result = NULL WHERE method = 'SignJwt'"))!);
  t.is((db.prepare("SELECT result FROM sign_requests WHERE request_id = 'legacy.1'").get() as { result: string | null }).result, null);
  db.close();
  const retried = await rpcFailure(t1.call('SignJwt', { keyName: 'jwt/es256', claimsJson, requestId: 'legacy.1' }));
  t.is(retried.code, grpc.status.ALREADY_EXISTS);
  t.is(retried.errorCode, 'REQUEST_ID_REUSED');
  t.regex(retried.details, /no longer kept; use a new request id/);
});

/** After stop: the tokens the service returned are the only ones it signed; look for any of them. */
async function verifiableTokensOffline(text: string, tokens: string[]): Promise<string[]> {
  return tokens.filter((token) => text.includes(token.split('.')[2]!));
}
