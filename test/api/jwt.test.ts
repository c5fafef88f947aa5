import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, errors as joseErrors } from 'jose';
import type { JwtKey__Output } from '../../src/api/generated/signer/v1/JwtKey.js';
import type { SignJwtResponse__Output } from '../../src/api/generated/signer/v1/SignJwtResponse.js';
import type { GetJwksResponse__Output } from '../../src/api/generated/signer/v1/GetJwksResponse.js';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { rpcFailure, startTestSigner, type TestSigner } from '../helpers/signer.js';

const ISSUER = 'https://issuer.test';
const POLICY = `
key: "jwt/**"
jwt:
  issuers: ["${ISSUER}"]
  audiences: [api, billing]
  subjects: ["user:*", "service:billing"]
  max_ttl: 1h
  required_claims: [sub]
  forbidden_claims: [admin]
  max_token_bytes: 1200
`;

const MINUTE = 60_000;
const clock = { now: Date.parse('2026-11-21T12:00:00Z') };
let t0: TestSigner;
test.before(async () => {
  t0 = await startTestSigner({}, { 'jwt.yaml': POLICY }, () => clock.now);
});
test.after.always(async () => t0?.stop());

const claims = (extra: object = {}) => JSON.stringify({ iss: ISSUER, sub: 'user:42', aud: 'api', ...extra });
const jwksUrl = () => new URL(t0.signer.jwks!.url);
const at = (ms: number) => new Date(ms);

test.serial('every algorithm: jose verifies the token through the HTTP JWKS', async (t) => {
  for (const algorithm of ['ES256', 'EdDSA', 'RS256', 'PS256']) {
    const name = `jwt/${algorithm.toLowerCase()}`;
    await t0.call('CreateJwtKey', { name, algorithm: `JWT_ALGORITHM_${algorithm.toUpperCase()}`, publishAhead: '0s' });
    const signed = await t0.call<SignJwtResponse__Output>('SignJwt', { keyName: name, claimsJson: claims({ alg: 'none', kid: 'evil' }) });
    const { payload, protectedHeader } = await jwtVerify(signed.token, createRemoteJWKSet(jwksUrl()), {
      issuer: ISSUER,
      audience: 'api',
      algorithms: [algorithm],
      currentDate: at(clock.now),
    });
    t.is(protectedHeader.alg, algorithm);
    t.is(protectedHeader.kid, signed.kid);
    t.is(payload.sub, 'user:42');
    // Claims cannot choose alg or kid: they stay claims.
    t.is(payload.alg, 'none');
    t.is(payload.exp! - payload.iat!, 15 * 60);
    t.is(typeof payload.jti, 'string');
  }
});

test.serial('the JWKS: public members only, use sig, unique kids, max-age no higher than publish-ahead', async (t) => {
  const response = await fetch(jwksUrl());
  t.is(response.headers.get('cache-control'), 'public, max-age=0');
  const { keys } = (await response.json()) as { keys: Array<Record<string, string>> };
  t.is(keys.length, 4);
  for (const key of keys) {
    t.is(key.use, 'sig');
    for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi']) t.false(secret in key);
  }
  t.is(new Set(keys.map((k) => k.kid)).size, keys.length);
  const grpcJwks = JSON.parse((await t0.call<GetJwksResponse__Output>('GetJwks', {})).jwksJson);
  t.deepEqual(grpcJwks.keys, keys);
});

test.serial('claim rules: each violation is PERMISSION_DENIED naming the claim', async (t) => {
  const cases: Array<[string, string, RegExp]> = [
    [claims({ iss: 'https://evil.test' }), 'CLAIM_NOT_ALLOWED', /claim "iss"/],
    [claims({ aud: ['api', 'admin-api'] }), 'CLAIM_NOT_ALLOWED', /claim "aud" value "admin-api"/],
    [claims({ sub: 'service:payments' }), 'CLAIM_NOT_ALLOWED', /claim "sub"/],
    [JSON.stringify({ iss: ISSUER, aud: 'api' }), 'CLAIM_REQUIRED', /claim "sub" is required/],
    [claims({ admin: true }), 'CLAIM_FORBIDDEN', /claim "admin" is forbidden/],
    [claims({ exp: Math.floor(clock.now / 1000) + 3601 }), 'TTL_TOO_LONG', /claim "exp"/],
    [claims({ padding: 'x'.repeat(900) }), 'TOKEN_TOO_LARGE', /bytes/],
  ];
  for (const [claimsJson, reason, message] of cases) {
    const failure = await rpcFailure(t0.call('SignJwt', { keyName: 'jwt/es256', claimsJson }));
    t.is(failure.code, grpc.status.PERMISSION_DENIED, reason);
    t.regex(failure.details, message);
  }
  // Exactly at the maximum TTL is fine.
  await t.notThrowsAsync(t0.call('SignJwt', { keyName: 'jwt/es256', claimsJson: claims({ exp: Math.floor(clock.now / 1000) + 3600 }) }));
  const badType = await rpcFailure(t0.call('SignJwt', { keyName: 'jwt/es256', claimsJson: claims({ exp: 'tomorrow' }) }));
  t.is(badType.code, grpc.status.INVALID_ARGUMENT);
  t.is(badType.field, 'claims_json.exp');
});

test.serial('rotation: old tokens verify through the grace period, new ones carry the new kid, nothing signs before publish-ahead', async (t) => {
  const start = clock.now;
  const created = await t0.call<JwtKey__Output>('CreateJwtKey', {
    name: 'jwt/rot',
    algorithm: 'JWT_ALGORITHM_ES256',
    publishAhead: '10m',
    verificationGrace: '5m',
    clockSkew: '1m',
    defaultTtl: '15m',
  });
  const v1 = created.versions[0]!;
  // The first version has nothing to overlap with: it signs at once, publish-ahead or not.
  t.is(v1.state, 'active');
  t.true(((await (await fetch(jwksUrl())).json()) as { keys: Array<{ kid: string }> }).keys.some((k) => k.kid === v1.kid));
  t.is((await t0.call<SignJwtResponse__Output>('SignJwt', { keyName: 'jwt/rot', claimsJson: claims() })).kid, v1.kid);

  clock.now = start + 10 * MINUTE;
  await t0.signer.jwt.advance();
  const before = await t0.call<SignJwtResponse__Output>('SignJwt', { keyName: 'jwt/rot', claimsJson: claims() });
  t.is(before.kid, v1.kid);

  const rotated = await t0.call<JwtKey__Output>('RotateKey', { name: 'jwt/rot' });
  const v2 = rotated.versions[1]!;
  t.is(v2.state, 'published');
  t.not(v2.kid, v1.kid);
  const stillOld = await t0.call<SignJwtResponse__Output>('SignJwt', { keyName: 'jwt/rot', claimsJson: claims() });
  t.is(stillOld.kid, v1.kid);

  clock.now += 10 * MINUTE - 1;
  await t0.signer.jwt.advance();
  t.is((await t0.call<SignJwtResponse__Output>('SignJwt', { keyName: 'jwt/rot', claimsJson: claims() })).kid, v1.kid);
  clock.now += 1;
  await t0.signer.jwt.advance();
  const after = await t0.call<SignJwtResponse__Output>('SignJwt', { keyName: 'jwt/rot', claimsJson: claims() });
  t.is(after.kid, v2.kid);
  t.true(Date.parse(rotated.versions[1]!.publishTime) + 10 * MINUTE <= clock.now);

  // The old token keeps verifying while v1 is retiring...
  const verifyAt = (token: string, now: number) =>
    jwtVerify(token, createRemoteJWKSet(jwksUrl()), { issuer: ISSUER, audience: 'api', currentDate: at(now) });
  await t.notThrowsAsync(verifyAt(before.token, clock.now));
  // ...until every v1 token can have expired, plus clock skew and grace: the last v1 token expires at
  // (its iat + 15m); v1 retires 1m + 5m after that, and not a millisecond earlier.
  const lastV1Exp = start + 20 * MINUTE - 1 + 15 * MINUTE - ((start + 20 * MINUTE - 1) % 1000);
  clock.now = lastV1Exp + 6 * MINUTE - 1;
  await t0.signer.jwt.advance();
  await t.notThrowsAsync(verifyAt(before.token, start + 11 * MINUTE));
  clock.now += 1;
  await t0.signer.jwt.advance();
  const gone = await verifyAt(before.token, start + 11 * MINUTE).catch((error: unknown) => error);
  t.true(gone instanceof joseErrors.JWKSNoMatchingKey);
  t.is(decodeProtectedHeader(after.token).kid, v2.kid);
  await t.notThrowsAsync(verifyAt(after.token, start + 21 * MINUTE));
});

test.serial('signer keys rotate publishes a new version and lists the versions', async (t) => {
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const { join } = await import('node:path');
  const cli = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.js');
  const { stdout } = await promisify(execFile)(process.execPath, [cli, 'keys', 'rotate', 'jwt/eddsa', '--server', `127.0.0.1:${t0.signer.port}`, '--insecure', '--json']);
  const key = JSON.parse(stdout) as JwtKey__Output;
  t.is(key.versions.length, 2);
  // jwt/eddsa publishes 0s ahead: the new version signs at once and the old one is retiring.
  t.deepEqual(key.versions.map((v) => v.state), ['retiring', 'active']);
  t.not(key.versions[0]!.kid, key.versions[1]!.kid);
});

test.serial('scheduled rotation publishes the next version publish-ahead before the period ends', async (t) => {
  const start = clock.now;
  await t0.call('CreateJwtKey', { name: 'jwt/sched', algorithm: 'JWT_ALGORITHM_EDDSA', publishAhead: '1h', rotationPeriod: '1d' });
  const versions = async () => (await t0.signer.jwt.versions('jwt/sched')).map((v) => v.state);
  t.deepEqual(await versions(), ['active']);
  // The period runs from activation (creation: the first version signs at once); the next version appears 1h before it ends...
  clock.now = start + 86_400_000 - 3_600_000 - 1;
  await t0.signer.jwt.advance();
  t.deepEqual(await versions(), ['active']);
  clock.now += 1;
  await t0.signer.jwt.advance();
  t.deepEqual(await versions(), ['active', 'published']);
  // ...and takes over once it has been published for publish-ahead.
  clock.now += 3_600_000;
  await t0.signer.jwt.advance();
  t.deepEqual(await versions(), ['retiring', 'active']);
  const { maxAgeSeconds } = await t0.signer.jwt.jwks();
  t.is(maxAgeSeconds, 0); // the smallest publish-ahead among all keys (the 0s ones above)
});

test.serial('a retry with the same request id returns the same token; the id with other claims is refused', async (t) => {
  await t0.call('CreateJwtKey', { name: 'jwt/retry', algorithm: 'JWT_ALGORITHM_ES256', publishAhead: '0s' });
  const first = await t0.call<SignJwtResponse__Output>('SignJwt', { keyName: 'jwt/retry', claimsJson: claims(), requestId: 'login-7' });
  clock.now += 1000; // a later iat would change the token if it were signed again
  const retried = await t0.call<SignJwtResponse__Output>('SignJwt', { keyName: 'jwt/retry', claimsJson: claims(), requestId: 'login-7' });
  t.is(retried.token, first.token);
  const reused = await rpcFailure(t0.call('SignJwt', { keyName: 'jwt/retry', claimsJson: claims({ sub: 'user:43' }), requestId: 'login-7' }));
  t.is(reused.code, grpc.status.ALREADY_EXISTS);
  t.is(reused.errorCode, 'REQUEST_ID_REUSED');
});

test.serial('a JWT key signs nothing but JWTs: raw bytes with its algorithm would skip the claim rules', async (t) => {
  await t0.call('CreateJwtKey', { name: 'jwt/only', algorithm: 'JWT_ALGORITHM_EDDSA', publishAhead: '0s' });
  const refused = await rpcFailure(t0.call('SignBytes', { keyName: 'jwt/only', message: Buffer.from('{"alg":"EdDSA"}.{"admin":true}'), algorithm: 'SIGN_BYTES_ALGORITHM_ED25519' }));
  t.is(refused.code, grpc.status.FAILED_PRECONDITION);
  t.is(refused.errorCode, 'WRONG_KEY_TYPE');
  t.regex(refused.details, /is a JWT key: it signs only with SignJwt/);
});

test.serial('a lifetime counts from now when iat is in the future: a far-future iat cannot stretch a token', async (t) => {
  await t0.call('CreateJwtKey', { name: 'jwt/future', algorithm: 'JWT_ALGORITHM_ES256', publishAhead: '0s' });
  const now = Math.floor(clock.now / 1000);
  const far = now + 10 * 365 * 86_400;
  const refused = await rpcFailure(t0.call('SignJwt', { keyName: 'jwt/future', claimsJson: claims({ iat: far, exp: far + 60 }) }));
  t.is(refused.code, grpc.status.PERMISSION_DENIED);
  t.regex(refused.details, /lifetime/);
  const fine = await t0.call<SignJwtResponse__Output>('SignJwt', { keyName: 'jwt/future', claimsJson: claims({ iat: now + 60, exp: now + 600 }) });
  t.truthy(fine.token);
});

test.serial('a new JWT key signs at once with the defaults; a rotation publishes 10 minutes ahead by default (regression: 5m, and new keys waited)', async (t) => {
  const start = clock.now;
  const created = await t0.call<JwtKey__Output>('CreateJwtKey', { name: 'jwt/defaults', algorithm: 'JWT_ALGORITHM_ES256' });
  t.deepEqual(created.versions.map((v) => v.state), ['active']);
  const first = await t0.call<SignJwtResponse__Output>('SignJwt', { keyName: 'jwt/defaults', claimsJson: claims() });
  const jwks = createRemoteJWKSet(jwksUrl());
  await t.notThrowsAsync(jwtVerify(first.token, jwks, { issuer: ISSUER, audience: 'api', currentDate: at(clock.now) }));
  const rotated = await t0.call<JwtKey__Output>('RotateKey', { name: 'jwt/defaults' });
  t.deepEqual(rotated.versions.map((v) => v.state), ['active', 'published']);
  clock.now = start + 10 * MINUTE - 1;
  await t0.signer.jwt.advance();
  t.is((await t0.call<SignJwtResponse__Output>('SignJwt', { keyName: 'jwt/defaults', claimsJson: claims() })).kid, first.kid);
  clock.now = start + 10 * MINUTE;
  await t0.signer.jwt.advance();
  t.is((await t0.call<SignJwtResponse__Output>('SignJwt', { keyName: 'jwt/defaults', claimsJson: claims() })).kid, rotated.versions[1]!.kid);
});

test.serial('"no active version" says when the next version becomes active, and it signs from then on without waiting for the schedule', async (t) => {
  const start = clock.now;
  await t0.call('CreateJwtKey', { name: 'jwt/gap', algorithm: 'JWT_ALGORITHM_ES256', publishAhead: '10m' });
  const rotated = await t0.call<JwtKey__Output>('RotateKey', { name: 'jwt/gap' });
  // A key left without an active version (as a database from before first versions signed at once can be).
  const db = new Database(join(t0.dir, 'signer.db'));
  db.prepare("UPDATE key_versions SET state = 'retiring', retiring_at = ? WHERE key_name = 'jwt/gap' AND version = 1").run(start);
  db.prepare("UPDATE keys SET kid = NULL WHERE name = 'jwt/gap'").run();
  db.close();
  clock.now = start + MINUTE;
  const refused = await rpcFailure(t0.call('SignJwt', { keyName: 'jwt/gap', claimsJson: claims() }));
  t.is(refused.code, grpc.status.FAILED_PRECONDITION);
  t.is(refused.field, 'key_name');
  t.regex(refused.details, new RegExp(`no active JWT version: the next becomes active at ${new Date(start + 10 * MINUTE).toISOString()} \\(in 540s\\)`));
  clock.now = start + 10 * MINUTE;
  // No advance(): signing activates the due version itself.
  t.is((await t0.call<SignJwtResponse__Output>('SignJwt', { keyName: 'jwt/gap', claimsJson: claims() })).kid, rotated.versions[1]!.kid);
});

test.serial('a key whose default lifetime exceeds max_ttl issues tokens bounded by max_ttl (regression: TTL_TOO_LONG); an explicit longer exp still fails', async (t) => {
  await t0.call('CreateJwtKey', { name: 'jwt/long', algorithm: 'JWT_ALGORITHM_ES256', defaultTtl: '2h' });
  const signed = await t0.call<SignJwtResponse__Output>('SignJwt', { keyName: 'jwt/long', claimsJson: claims() });
  const { payload } = await jwtVerify(signed.token, createRemoteJWKSet(jwksUrl()), { issuer: ISSUER, audience: 'api', currentDate: at(clock.now) });
  t.is(payload.exp! - payload.iat!, 3600);
  t.is(Date.parse(signed.expireTime), payload.exp! * 1000);
  // A future iat: the bound counts from now, as the policy does.
  const now = Math.floor(clock.now / 1000);
  const later = await t0.call<SignJwtResponse__Output>('SignJwt', { keyName: 'jwt/long', claimsJson: claims({ iat: now + 60 }) });
  t.is(Date.parse(later.expireTime) / 1000, now + 3600);
  const explicit = await rpcFailure(t0.call('SignJwt', { keyName: 'jwt/long', claimsJson: claims({ exp: now + 2 * 3600 }) }));
  t.is(explicit.code, grpc.status.PERMISSION_DENIED);
  t.regex(explicit.details, /max_ttl/);
});

test.serial('__proto__, constructor and prototype are refused as claim names at every depth (regression: __proto__ hid a forbidden claim)', async (t) => {
  const cases: Array<[string, string]> = [
    ['{"__proto__":{"admin":true}}', 'claims_json.__proto__'],
    ['{"constructor":{"prototype":{"admin":true}}}', 'claims_json.constructor'],
    ['{"ctx":{"prototype":1}}', 'claims_json.ctx.prototype'],
    ['{"roles":[{"x":{"\\u005f_proto__":[]}}]}', 'claims_json.roles[0].x.__proto__'],
  ];
  for (const [extra, field] of cases) {
    const claimsJson = `${claims().slice(0, -1)},${extra.slice(1)}`;
    const refused = await rpcFailure(t0.call('SignJwt', { keyName: 'jwt/es256', claimsJson }));
    t.is(refused.code, grpc.status.INVALID_ARGUMENT, field);
    t.is(refused.errorCode, 'INVALID_FIELD');
    t.is(refused.field, field);
  }
  // The words are fine as values and inside longer names.
  await t.notThrowsAsync(t0.call('SignJwt', { keyName: 'jwt/es256', claimsJson: claims({ note: '__proto__', constructorName: 'x' }) }));
});

test.serial('numbers above 2^53 are refused, found in the raw JSON (regression: 9007199254740993 was signed as ...992)', async (t) => {
  for (const number of ['9007199254740993', '-9007199254740993', '9007199254740992.5', '1e16', '12345678901234567890', '1.5e300']) {
    const claimsJson = `${claims().slice(0, -1)},"n":{"deep":[${number}]}}`;
    const refused = await rpcFailure(t0.call('SignJwt', { keyName: 'jwt/es256', claimsJson }));
    t.is(refused.code, grpc.status.INVALID_ARGUMENT, number);
    t.is(refused.field, 'claims_json.n.deep[0]', number);
    t.regex(refused.details, /above 2\^53/);
  }
  // Exactly 2^53, and smaller numbers in any notation, are signed as written.
  const claimsJson = `${claims().slice(0, -1)},"n":9007199254740992,"m":-9007199254740992,"f":0.5,"e":1e15}`;
  const signed = await t0.call<SignJwtResponse__Output>('SignJwt', { keyName: 'jwt/es256', claimsJson });
  const { payload } = await jwtVerify(signed.token, createRemoteJWKSet(jwksUrl()), { issuer: ISSUER, audience: 'api', currentDate: at(clock.now) });
  t.deepEqual([payload.n, payload.m, payload.f, payload.e], [2 ** 53, -(2 ** 53), 0.5, 1e15]);
});

test.serial('numbers that would change when parsed are refused, naming the claim (1e-400 became 0, 0.1000000000000000055511151231257827 became 0.1)', async (t) => {
  for (const number of ['1e-400', '0.1000000000000000055511151231257827']) {
    const claimsJson = `${claims().slice(0, -1)},"n":{"deep":[${number}]}}`;
    const refused = await rpcFailure(t0.call('SignJwt', { keyName: 'jwt/es256', claimsJson }));
    t.is(refused.code, grpc.status.INVALID_ARGUMENT, number);
    t.is(refused.field, 'claims_json.n.deep[0]', number);
    t.regex(refused.details, /not exactly representable/);
  }
});
