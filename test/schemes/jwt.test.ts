import test from 'ava';
import { SignerError } from '../../src/domain/errors.js';
import { jwtKeyRecord } from '../helpers/jwt-key-record.js';
import { jwtScheme } from '../../src/schemes/jwt.js';

const NOW_MS = 1_750_000_000_000;
const key = jwtKeyRecord('test/backend/jwt-1', 'kid-1');
const prepare = (claimsJson: string) => jwtScheme.prepare({ claimsJson, algorithm: 'ES256', nowMs: NOW_MS, defaultTtlMs: 900_000 }, key);

function refusal(t: import('ava').ExecutionContext, claimsJson: string, field: string, message: RegExp): void {
  const error = t.throws(() => prepare(claimsJson), { instanceOf: SignerError });
  t.is(error?.code, 'INVALID_FIELD');
  t.is(error?.field, field);
  t.regex(error?.message ?? '', message);
}

test('NumericDates after 9999 are refused (regression: exp 9007199254740991 made the reply\'s ISO time throw)', (t) => {
  for (const name of ['exp', 'iat', 'nbf']) {
    refusal(t, `{"${name}":9007199254740991}`, `claims_json.${name}`, /NumericDate/);
    refusal(t, `{"${name}":253402300800}`, `claims_json.${name}`, /at most 253402300799/);
  }
  const { decoded } = prepare('{"exp":253402300799}');
  t.is(new Date(decoded.expMs).toISOString(), '9999-12-31T23:59:59.000Z');
});

test('claims nested deeper than 32 levels are refused (regression: 5000 levels overflowed JSON.stringify)', (t) => {
  refusal(t, `{"x":${'['.repeat(5000)}${']'.repeat(5000)}}`, 'claims_json.x' + '[0]'.repeat(31), /nests deeper than 32/);
  t.notThrows(() => prepare(`{"x":${'['.repeat(31)}${']'.repeat(31)}}`));
});

test('the size limit counts UTF-8 bytes, not characters (regression: 16384 emoji, 64 kB, passed)', (t) => {
  refusal(t, `{"x":"${'\u{1F600}'.repeat(4096)}"}`, 'claims_json', /at most 16384 bytes/);
  t.notThrows(() => prepare(`{"x":"${'\u{1F600}'.repeat(4000)}"}`));
});

test('a claim written twice is refused naming it', (t) => {
  refusal(t, '{"sub":"user:1","sub":"admin"}', 'claims_json.sub', /duplicate JSON key/);
  refusal(t, '{"aud":"api","\\u0061ud":"billing"}', 'claims_json.aud', /duplicate JSON key/);
});

test('registered claims of the wrong type are refused naming them', (t) => {
  refusal(t, '{"exp":"1750000100"}', 'claims_json.exp', /NumericDate/);
  refusal(t, '{"nbf":1.5}', 'claims_json.nbf', /NumericDate/);
  refusal(t, '{"iat":-1}', 'claims_json.iat', /NumericDate/);
  refusal(t, '{"aud":["api",1]}', 'claims_json.aud', /string or an array of strings/);
  refusal(t, '{"aud":[["api"]]}', 'claims_json.aud', /string or an array of strings/);
  refusal(t, '{"sub":1}', 'claims_json.sub', /must be a string/);
  refusal(t, '{"iss":null}', 'claims_json.iss', /must be a string/);
});
