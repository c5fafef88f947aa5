import { generateKeyPairSync } from 'node:crypto';
import test from 'ava';
import { SignJWT } from 'jose';
import { JsonLogger } from '../../src/api/json-logger.js';
import { DEV_PIN } from '../../src/config.js';

function capture(): { log: JsonLogger; lines: string[] } {
  const lines: string[] = [];
  return { log: new JsonLogger((line) => lines.push(line)), lines };
}

test('one JSON object per line: time, level, message, then the fields', (t) => {
  const { log, lines } = capture();
  const before = Date.now();
  log.warn('key disabled', { key: 'dev/hot', latencyMs: 1.5 });
  log.error('request failed', { requestId: 'r-1', code: 'INTERNAL' });
  t.is(lines.length, 2);
  t.regex(lines[0]!, /^\{"time":"[^"]+","level":"warn","message":"key disabled","key":"dev\/hot","latencyMs":1.5\}$/);
  const { time } = JSON.parse(lines[0]!) as { time: string };
  t.true(Date.parse(time) >= before - 1 && Date.parse(time) <= Date.now());
  t.like(JSON.parse(lines[1]!), { level: 'error', message: 'request failed', requestId: 'r-1', code: 'INTERNAL' });
});

test('a field named for a secret is never logged, at any depth', (t) => {
  const { log, lines } = capture();
  log.info('passed by mistake', { pin: DEV_PIN, config: { tokenLabel: 'signer-dev', PIN: DEV_PIN, nested: [{ passphrase: 'hunter2-passphrase' }] }, privateKey: '0x4c0883a6910' });
  t.false(lines[0]!.includes(DEV_PIN));
  t.false(lines[0]!.includes('hunter2-passphrase'));
  t.false(lines[0]!.includes('0x4c0883a6910'));
  t.deepEqual(JSON.parse(lines[0]!), {
    time: (JSON.parse(lines[0]!) as { time: string }).time,
    level: 'info',
    message: 'passed by mistake',
    pin: '[redacted]',
    config: { tokenLabel: 'signer-dev', PIN: '[redacted]', nested: [{ passphrase: '[redacted]' }] },
    privateKey: '[redacted]',
  });
});

test('a whole JWT is cut from any logged text, an error message included; the rest of the text stays', async (t) => {
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwt = await new SignJWT({ sub: 'backend' }).setProtectedHeader({ alg: 'EdDSA', kid: 'k1' }).sign(privateKey);
  const { log, lines } = capture();
  log.error(`verifying ${jwt} failed`, { error: String(new Error(`bad audience in ${jwt}`)), kid: 'k1' });
  t.false(lines[0]!.includes(jwt));
  // Not even its signature: a JWT's header and claims are readable, its signature makes it usable.
  t.false(lines[0]!.includes(jwt.split('.')[2]!));
  t.like(JSON.parse(lines[0]!), { message: 'verifying [JWT redacted] failed', error: 'Error: bad audience in [JWT redacted]', kid: 'k1' });
});
