import { createPublicKey, verify } from 'node:crypto';
import test from 'ava';
import { Transaction, getBytes, verifyMessage, verifyTypedData } from 'ethers';
import { createLocalJWKSet, jwtVerify } from 'jose';
import type { Key__Output } from '../../src/api/generated/signer/v1/Key.js';
import type { GetJwksResponse__Output } from '../../src/api/generated/signer/v1/GetJwksResponse.js';
import { runCli } from '../helpers/cli.js';
import { PERMISSIVE_POLICY, startTestSigner, writePolicies, type TestSigner } from '../helpers/signer.js';

const JWT_POLICY = `
key: "sign/jwt-*"
jwt:
  issuers: ["https://auth.example.com"]
  audiences: ["api.example.com"]
  max_ttl: 1h
`;
const FRIEND = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed';
const MAIL = {
  types: { Mail: [{ name: 'contents', type: 'string' }] },
  primaryType: 'Mail',
  domain: { name: 'Ether Mail', version: '1', chainId: 1 },
  message: { contents: 'Hello, Bob!' },
};

let t0: TestSigner;
let eth: Key__Output;
let ed: Key__Output;
test.before(async () => {
  t0 = await startTestSigner({}, { 'test.yaml': PERMISSIVE_POLICY.replace('key: "**"', 'key: "sign/k-*"'), 'jwt.yaml': JWT_POLICY });
  eth = await t0.call<Key__Output>('CreateKey', { name: 'sign/k-eth', type: 'KEY_TYPE_SECP256K1' });
  ed = await t0.call<Key__Output>('CreateKey', { name: 'sign/k-ed', type: 'KEY_TYPE_ED25519' });
  await t0.call('CreateJwtKey', { name: 'sign/jwt-1', algorithm: 'JWT_ALGORITHM_EDDSA', publishAhead: '0s' });
});
test.after.always(async () => t0?.stop());

const signer = (args: string[], input?: string) => runCli([...args, '--server', `127.0.0.1:${t0.signer.port}`, '--insecure'], input === undefined ? {} : { input });

test.serial('sign tx: from a flag or standard input; prints the signed transaction, --json every field with 0x hex', async (t) => {
  const unsigned = Transaction.from({ type: 2, chainId: 1n, nonce: 0, gasLimit: 21000n, maxFeePerGas: 1n, maxPriorityFeePerGas: 1n, to: FRIEND, value: 1n }).unsignedSerialized;
  const fromFlag = await signer(['sign', 'tx', 'sign/k-eth', '--tx', unsigned, '--request-id', 'cli-tx-1']);
  t.is(fromFlag.code, 0, fromFlag.stderr);
  t.regex(fromFlag.stdout, /^0x02[0-9a-f]+\n$/);
  t.is(Transaction.from(fromFlag.stdout.trim()).from, eth.ethereumAddress);
  // The same request id again: the same signature, through standard input this time.
  const fromStdin = await signer(['sign', 'tx', 'sign/k-eth', '--request-id', 'cli-tx-1', '--json'], `${unsigned}\n`);
  t.is(fromStdin.code, 0, fromStdin.stderr);
  const json = JSON.parse(fromStdin.stdout) as Record<string, unknown>;
  t.is(json.signedTransaction, fromFlag.stdout.trim());
  t.regex(String(json.transactionHash), /^0x[0-9a-f]{64}$/);
  t.regex(String(json.r), /^0x[0-9a-f]{64}$/);
  t.true(json.yParity === 0 || json.yParity === 1);
});

test.serial('sign message and typed-data: 65-byte signatures that ethers recovers to the key', async (t) => {
  const text = await signer(['sign', 'message', 'sign/k-eth', '--message', 'gm']);
  t.is(text.code, 0, text.stderr);
  t.is(verifyMessage('gm', text.stdout.trim()), eth.ethereumAddress);
  const piped = await signer(['sign', 'message', 'sign/k-eth', '--json'], 'gm\n');
  t.is(verifyMessage('gm\n', (JSON.parse(piped.stdout) as { signature: string }).signature), eth.ethereumAddress);
  const bytes = await signer(['sign', 'message', 'sign/k-eth', '--hex', '--message', '0x00ff']);
  t.is(verifyMessage(getBytes('0x00ff'), bytes.stdout.trim()), eth.ethereumAddress);

  const typed = await signer(['sign', 'typed-data', 'sign/k-eth'], JSON.stringify(MAIL));
  t.is(typed.code, 0, typed.stderr);
  t.is(verifyTypedData(MAIL.domain, MAIL.types, MAIL.message, typed.stdout.trim()), eth.ethereumAddress);
});

test.serial('sign bytes and jwt: verified by node:crypto and by jose against the served JWKS', async (t) => {
  const signed = await signer(['sign', 'bytes', 'sign/k-ed', '--bytes', '0x68656c6c6f', '--json']);
  t.is(signed.code, 0, signed.stderr);
  const { algorithm, signature } = JSON.parse(signed.stdout) as { algorithm: string; signature: string };
  t.is(algorithm, 'ed25519');
  const publicKey = createPublicKey({ key: Buffer.from(ed.publicKeyDer), format: 'der', type: 'spki' });
  t.true(verify(null, Buffer.from('hello'), publicKey, getBytes(signature)));

  const claims = JSON.stringify({ iss: 'https://auth.example.com', sub: 'user-1', aud: 'api.example.com' });
  const token = await signer(['sign', 'jwt', 'sign/jwt-1', '--claims', claims]);
  t.is(token.code, 0, token.stderr);
  const { jwksJson } = await t0.call<GetJwksResponse__Output>('GetJwks', { keyName: 'sign/jwt-1' });
  const verified = await jwtVerify(token.stdout.trim(), createLocalJWKSet(JSON.parse(jwksJson)), { issuer: 'https://auth.example.com', audience: 'api.example.com' });
  t.is(verified.payload.sub, 'user-1');
});

test.serial('sign: bad input is named before anything is sent; a refusal says why', async (t) => {
  t.regex((await signer(['sign', 'tx', 'sign/k-eth', '--tx', '02f8'])).stderr, /--tx expected 0x-prefixed hex/);
  t.regex((await signer(['sign', 'typed-data', 'sign/k-eth', '--typed-data', '[1]'])).stderr, /--typed-data expected a JSON object/);
  t.regex((await signer(['sign', 'jwt', 'sign/jwt-1'], '{nope')).stderr, /--claims is not JSON/);
  t.regex((await signer(['sign', 'message', 'sign/k-eth'], '')).stderr, /standard input is empty/);
  const refused = await signer(['sign', 'bytes', 'sign/k-eth', '--bytes', '0x01']);
  t.is(refused.code, 1);
  t.regex(refused.stderr, /^signer: .*\[(FAILED_PRECONDITION|INVALID_ARGUMENT|PERMISSION_DENIED) /);
});

test.serial('policy reload: the service re-reads its directory and lists what is in force', async (t) => {
  const reloaded = await signer(['policy', 'reload', '--json']);
  t.is(reloaded.code, 0, reloaded.stderr);
  t.deepEqual((JSON.parse(reloaded.stdout) as { policies: Array<{ file: string }> }).policies.map((p) => p.file).sort(), ['jwt.yaml', 'test.yaml']);
  const table = await signer(['policy', 'reload']);
  t.regex(table.stdout, /^reloaded: 2 policies in force\nFILE +KEY +SHA-256\n/);
});

test.serial('policy reload with an invalid file fails naming it, and the old policies stay', async (t) => {
  writePolicies(t0.dir, { 'test.yaml': PERMISSIVE_POLICY.replace('key: "**"', 'key: "sign/k-*"'), 'jwt.yaml': JWT_POLICY, 'broken.yaml': 'key: "x/*"\nunknown_field: 1\n' });
  const failed = await signer(['policy', 'reload']);
  t.is(failed.code, 1);
  t.regex(failed.stderr, /broken\.yaml/);
  t.regex(failed.stderr, /FAILED_PRECONDITION/);
  t.is((await signer(['sign', 'message', 'sign/k-eth', '--message', 'still signing'])).code, 0);
});
