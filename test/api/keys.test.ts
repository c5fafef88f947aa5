import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import test from 'ava';
import { status } from '@grpc/grpc-js';
import { getAddress } from 'ethers';
import { DEV_PIN } from '../../src/config.js';
import { SOFTHSM_MODULE } from '../../src/keystore/dev-token.js';
import type { Key__Output } from '../../src/api/generated/signer/v1/Key.js';
import type { ListKeysResponse__Output } from '../../src/api/generated/signer/v1/ListKeysResponse.js';
import { computeAddress } from 'ethers';
import { rpcFailure, startTestSigner, type TestSigner } from '../helpers/signer.js';

let t0: TestSigner;
const KEY_TYPES = ['KEY_TYPE_SECP256K1', 'KEY_TYPE_ED25519', 'KEY_TYPE_P256', 'KEY_TYPE_RSA_2048', 'KEY_TYPE_RSA_3072'];
const created: Key__Output[] = [];

test.before(async () => {
  t0 = await startTestSigner();
  for (const type of KEY_TYPES) {
    created.push(
      await t0.call<Key__Output>('CreateKey', {
        name: `prod/${type.toLowerCase().replace('key_type_', '').replace('_', '-')}/k1`,
        type,
        labels: { env: 'prod', owner: 'team-payments', purpose: 'test' },
      }),
    );
  }
});
test.after.always(async () => t0?.stop());

const tokenEnv = () => ({ ...process.env, SOFTHSM2_CONF: join(t0.dir, 'softhsm', 'softhsm2.conf'), SIGNER_HSM_PIN: DEV_PIN });

test('CreateKey returns the public half in DER, JWK and (secp256k1) an Ethereum address', (t) => {
  for (const key of created) {
    const jwk = JSON.parse(key.publicJwk);
    t.deepEqual(Object.keys(jwk).filter((k) => ['d', 'p', 'q', 'dp', 'dq', 'qi'].includes(k)), []);
    t.true(key.publicKeyDer.length > 30);
    t.deepEqual(key.labels, { env: 'prod', owner: 'team-payments', purpose: 'test' });
    t.false(Number.isNaN(Date.parse(key.createTime)));
  }
  const eth = created[0]!;
  const { x, y } = JSON.parse(eth.publicJwk);
  const point = '0x04' + Buffer.from(x, 'base64url').toString('hex') + Buffer.from(y, 'base64url').toString('hex');
  t.is(eth.ethereumAddress, computeAddress(point));
  t.is(eth.ethereumAddress, getAddress(eth.ethereumAddress));
  t.is(created[1]!.ethereumAddress, '');
});

test('GetKey returns what CreateKey returned', async (t) => {
  for (const key of created) t.deepEqual(await t0.call<Key__Output>('GetKey', { name: key.name }), key);
});

test('ListKeys pages through every key in name order', async (t) => {
  const names: string[] = [];
  let pageToken = '';
  let pages = 0;
  do {
    const page = await t0.call<ListKeysResponse__Output>('ListKeys', { pageSize: 2, pageToken });
    t.true(page.keys.length <= 2);
    names.push(...page.keys.map((k) => k.name));
    pageToken = page.nextPageToken;
    pages++;
  } while (pageToken);
  t.deepEqual(names, created.map((k) => k.name).sort());
  t.is(pages, 3);
});

test('every private key is sensitive, never extractable and sign-only (pkcs11-tool)', (t) => {
  const listing = execFileSync(
    'pkcs11-tool',
    ['--module', SOFTHSM_MODULE, '--token-label', 'test-token', '--login', '--pin', DEV_PIN, '--list-objects', '--type', 'privkey'],
    { env: tokenEnv(), encoding: 'utf8' },
  );
  const objects = listing.split(/(?=Private Key Object)/).filter((o) => o.startsWith('Private Key Object'));
  // Every key created through the API, and the service's own audit checkpoint key.
  t.is(objects.length, created.length + 1);
  t.is(objects.filter((o) => /label:\s+signer audit checkpoints/.test(o)).length, 1);
  for (const object of objects) {
    t.regex(object, /Access:\s+sensitive, always sensitive, never extractable, local/);
    t.regex(object, /Usage:\s+sign\n/);
    t.notRegex(object, /decrypt|unwrap|derive/i);
    t.regex(object, /Allowed mechanisms:\s+(ECDSA|EDDSA|SHA256-RSA-PKCS,SHA256-RSA-PKCS-PSS)\n/);
  }
});

test('reading the secret of any private key (CKA_VALUE, or CKA_PRIVATE_EXPONENT for RSA) fails with CKR_ATTRIBUTE_SENSITIVE', (t) => {
  const output = execFileSync(
    process.execPath,
    [join(import.meta.dirname, '..', 'helpers', 'read-private-value.js'), SOFTHSM_MODULE, 'test-token'],
    { env: tokenEnv(), encoding: 'utf8' },
  );
  const results = output.trim().split('\n').map((line) => JSON.parse(line));
  t.is(results.length, created.length + 1);
  for (const { label, attribute, result } of results) t.is(result, 'CKR_ATTRIBUTE_SENSITIVE', `${label} ${attribute}`);
  t.true(results.some((r) => r.attribute === 'CKA_VALUE'));
});

test('a taken name is ALREADY_EXISTS and leaves no orphan on the token', async (t) => {
  const failure = await rpcFailure(t0.call('CreateKey', { name: created[0]!.name, type: 'KEY_TYPE_P256' }));
  t.is(failure.code, status.ALREADY_EXISTS);
  t.is(failure.errorCode, 'KEY_EXISTS');
});

test('bad names, types and labels are INVALID_ARGUMENT naming the field', async (t) => {
  const cases: Array<[object, string]> = [
    [{ name: '', type: 'KEY_TYPE_P256' }, 'name'],
    [{ name: 'Prod/Upper', type: 'KEY_TYPE_P256' }, 'name'],
    [{ name: 'a//b', type: 'KEY_TYPE_P256' }, 'name'],
    [{ name: 'a/../b', type: 'KEY_TYPE_P256' }, 'name'],
    [{ name: 'ok/name' }, 'type'],
    [{ name: 'ok/name', type: 99 }, 'type'],
    [{ name: 'ok/name', type: 'KEY_TYPE_P256', labels: { 'Bad Key': 'x' } }, 'labels.Bad Key'],
  ];
  for (const [request, field] of cases) {
    const failure = await rpcFailure(t0.call('CreateKey', request));
    t.is(failure.code, status.INVALID_ARGUMENT, JSON.stringify(request));
    t.is(failure.field, field, JSON.stringify(request));
  }
});

test('an unknown key is NOT_FOUND', async (t) => {
  const failure = await rpcFailure(t0.call('GetKey', { name: 'no/such/key' }));
  t.is(failure.code, status.NOT_FOUND);
  t.is(failure.errorCode, 'KEY_NOT_FOUND');
});

test('a bad page token or page size is INVALID_ARGUMENT', async (t) => {
  t.is((await rpcFailure(t0.call('ListKeys', { pageToken: 'garbage' }))).field, 'page_token');
  t.is((await rpcFailure(t0.call('ListKeys', { pageSize: 5000 }))).field, 'page_size');
});
