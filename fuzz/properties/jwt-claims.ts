import fc from 'fast-check';
import { sha256 } from '@noble/hashes/sha2.js';
import { jwtScheme, type JwtRequest } from '../../src/schemes/jwt.js';
import { jwtKeyRecord } from '../../test/helpers/jwt-key-record.js';
import { evaluate } from '../../src/policy/evaluate.js';
import { summarizeIntent } from '../../src/audit/intent-summary.js';
import { assertClearRefusal, check, decodedOrRefused } from './refusal.js';
import { FUZZ_POLICIES } from './fuzz-policy.js';

/**
 * JWT claims JSON: valid claim sets, registered claims (exp, nbf, iat, aud, sub, iss, jti) of every
 * wrong type, huge and deeply nested claims, duplicate keys, random text. Every input must be
 * refused with INVALID_FIELD or give a signing input whose payload is exactly the claims policy saw.
 */

const NOW_MS = 1_750_000_000_000;
const NOW = NOW_MS / 1000;
const MAX_CLAIMS_BYTES = 16 * 1024;

/** A JWT key as the scheme sees it; the HSM is not involved before `finish`. */
const KEY = jwtKeyRecord('fuzz/backend/jwt-1', 'fuzz-kid');

const request = (claimsJson: string): JwtRequest => ({ claimsJson, algorithm: 'ES256', nowMs: NOW_MS, defaultTtlMs: 15 * 60_000 });

// Up to the last second of the year 9999: later dates have no ISO 8601 form for replies.
const numericDate = fc.oneof(fc.integer({ min: NOW + 1, max: NOW + 86_400 }), fc.integer({ min: 0, max: 253_402_300_799 }));

/** Claim sets with the registered claims of the right types, and anything else beside them. */
const validClaims = fc
  .tuple(
    fc.record(
      {
        iss: fc.constantFrom('https://issuer.example', 'other'),
        sub: fc.oneof(fc.constant('user:1'), fc.string({ maxLength: 20 })),
        aud: fc.oneof(fc.constant('api'), fc.array(fc.constantFrom('api', 'billing', ''), { maxLength: 3 })),
        exp: numericDate,
        nbf: numericDate,
        iat: fc.integer({ min: NOW - 60, max: NOW }),
        jti: fc.string({ maxLength: 30 }),
      },
      { requiredKeys: [] },
    ),
    fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 }),
  )
  .map(([registered, extra]) => ({ ...extra, ...registered }))
  // Valid claims keep clear of what is refused at any depth: prototype names and numbers above 2^53.
  .filter((claims) => !JSON.stringify(claims).match(/"(__proto__|constructor|prototype)":|\d{16}|e\+?\d/));

/** Values of every JSON type and edge numbers, as raw JSON text. */
const anyValue: fc.Arbitrary<string> = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)),
  fc.constantFrom(
    'null', 'true', '"1750000000"', '1750000000.5', '-1', '-0', '0', '1e3', '1e400', '9007199254740991', '9007199254740992', '253402300799',
    '253402300800', '8640000000000', '8640000000001', '[]', '[1]', '[["api"]]', '["api", 1]', '{}', '{"a":"b"}', '"\\ud800"',
  ),
);

const REGISTERED = ['exp', 'nbf', 'iat', 'aud', 'sub', 'iss', 'jti'];

/** Valid claims with registered claims replaced by values of any type. */
const wrongTypes = fc
  .tuple(validClaims, fc.array(fc.tuple(fc.constantFrom(...REGISTERED), anyValue), { minLength: 1, maxLength: 3 }))
  .map(([claims, replacements]) => {
    const members = Object.entries(claims).map(([k, v]) => [k, JSON.stringify(v)]);
    const byName = new Map(members.map(([k, v]) => [k!, v!]));
    for (const [name, raw] of replacements) byName.set(name, raw);
    return `{${[...byName].map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;
  });

/** Claims around the size limit, wide or deeply nested, and duplicate keys. */
const oddClaims: fc.Arbitrary<string> = fc.oneof(
  fc.integer({ min: MAX_CLAIMS_BYTES - 40, max: MAX_CLAIMS_BYTES + 40 }).map((n) => `{"x":"${'a'.repeat(Math.max(0, n - 8))}"}`),
  fc.integer({ min: 4000, max: 6000 }).map((n) => `{"x":"${'\u{1F600}'.repeat(n)}"}`),
  fc.integer({ min: 1, max: 8000 }).map((n) => `{"x":${'['.repeat(n)}${']'.repeat(n)}}`),
  fc.integer({ min: 1, max: 3000 }).map((n) => `{"x":${'{"y":'.repeat(n)}1${'}'.repeat(n)}}`),
  fc.integer({ min: 1, max: 3000 }).map((n) => `{${Array.from({ length: n }, (_, i) => `"c${i}":${i}`).join(',')}}`),
  fc.json({ maxDepth: 3 }),
  fc.string({ maxLength: 30 }),
);

/** What must hold for claims the scheme accepted. */
function checkPrepared(claimsJson: string): void {
  const prepared = decodedOrRefused(() => jwtScheme.prepare(request(claimsJson), KEY));
  if (!prepared) return;
  check(Buffer.byteLength(claimsJson) <= MAX_CLAIMS_BYTES, `accepted ${Buffer.byteLength(claimsJson)} bytes of claims`);
  if (prepared.intent.scheme !== 'jwt') throw new Error('not a JWT intent');
  const { claims } = prepared.intent;
  const [header, payload] = prepared.decoded.signingInput.split('.');
  check(JSON.stringify(JSON.parse(Buffer.from(header!, 'base64url').toString())) === JSON.stringify({ alg: 'ES256', kid: KEY.kid, typ: 'JWT' }), 'the header is not the service\'s');
  check(Buffer.from(payload!, 'base64url').toString() === JSON.stringify(claims), 'the signed payload is not the claims policy saw');
  const sent = JSON.parse(claimsJson) as Record<string, unknown>;
  for (const [name, value] of Object.entries(sent)) check(JSON.stringify(claims[name]) === JSON.stringify(value), `claim ${name} was changed`);
  for (const name of ['exp', 'iat', 'nbf']) {
    const value = claims[name];
    check(value === undefined || (Number.isSafeInteger(value) && (value as number) >= 0), `${name} is not a NumericDate`);
  }
  check((claims.exp as number) > NOW, 'exp is not in the future');
  // The reply carries exp as an ISO time: it must be a date.
  new Date(prepared.decoded.expMs).toISOString();
  for (const name of ['iss', 'sub', 'jti']) check(claims[name] === undefined || typeof claims[name] === 'string', `${name} is not a string`);
  check(claims.aud === undefined || typeof claims.aud === 'string' || (Array.isArray(claims.aud) && claims.aud.every((a) => typeof a === 'string')), 'aud is not a string or strings');
  check(Buffer.compare(Buffer.from(prepared.input), Buffer.from(sha256(new TextEncoder().encode(prepared.decoded.signingInput)))) === 0, 'ES256 input is not SHA-256 of the signing input');
  for (const policies of FUZZ_POLICIES) evaluate(policies, KEY.name, prepared.intent);
  summarizeIntent(prepared.intent, prepared.input);
}

export const jwtClaimsProperties = {
  'valid claims are signed exactly as policy saw them': fc.property(validClaims, (claims) => {
    const json = JSON.stringify(claims);
    const prepared = decodedOrRefused(() => jwtScheme.prepare(request(json), KEY));
    // Only a NumericDate in the past may refuse a valid claim set.
    check(prepared !== undefined || (claims.exp ?? NOW + 1) <= NOW, 'a valid claim set was refused');
    checkPrepared(json);
  }),
  'registered claims of the wrong type are INVALID_FIELD': fc.property(wrongTypes, checkPrepared),
  'huge, deep and random claims are INVALID_FIELD or signed exactly': fc.property(oddClaims, checkPrepared),
  'a claim written twice is INVALID_FIELD naming it': fc.property(
    validClaims,
    fc.constantFrom(...REGISTERED, 'x'),
    anyValue,
    fc.boolean(),
    (claims, name, raw, escaped) => {
      const json = JSON.stringify({ [name]: null, ...claims }); // `name` exists, first
      const spelled = escaped ? `"\\u${name.charCodeAt(0).toString(16).padStart(4, '0')}${name.slice(1)}"` : JSON.stringify(name);
      const text = `${json.slice(0, -1)},${spelled}:${raw}}`;
      try {
        jwtScheme.prepare(request(text), KEY);
      } catch (error) {
        assertClearRefusal(error);
        check(error.field === `claims_json.${name}` && /duplicate/.test(error.message), `refused, but not for the duplicate "${name}": ${error.message}`);
        return;
      }
      throw new Error(`the duplicate claim "${name}" was accepted`);
    },
  ),
};
