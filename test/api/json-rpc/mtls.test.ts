import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { verifyMessage } from 'ethers';
import { issueCertificate } from '../../../src/api/dev-pki.js';
import type { Key__Output } from '../../../src/api/generated/signer/v1/Key.js';
import { silentLogger } from '../../../src/api/json-logger.js';
import { loadSignerPackage } from '../../../src/api/proto.js';
import { startSigner, type RunningSigner } from '../../../src/app.js';
import { rpcTls } from '../../helpers/json-rpc.js';
import { callUnary, PERMISSIVE_POLICY, testConfig, writePolicies } from '../../helpers/signer.js';

const ACCESS = `
grants:
  - identity: "spiffe://test.example/relayer"
    roles: [signer]
    keys: ["*/relayer/*"]
  - identity: admin-by-cn
    roles: [admin]
    keys: ["**"]
`;

type Issued = Awaited<ReturnType<typeof issueCertificate>>;
let dir: string;
let ca: Issued;
let signer: RunningSigner;
let url: string;
let relayerCert: Issued;
let relayerAddress: string;
let treasuryAddress: string;

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'signer-json-rpc-tls-'));
  ca = await issueCertificate({ subject: 'CN=test CA', ca: true });
  const server = await issueCertificate({ subject: 'CN=localhost', issuer: ca, dns: ['localhost'], ip: ['127.0.0.1'] });
  writeFileSync(join(dir, 'ca.pem'), ca.certPem);
  writeFileSync(join(dir, 'server.pem'), server.certPem);
  writeFileSync(join(dir, 'server-key.pem'), server.keyPem);
  writePolicies(dir, { 'access.yaml': ACCESS, 'all.yaml': PERMISSIVE_POLICY });
  const tls = { caFile: join(dir, 'ca.pem'), certFile: join(dir, 'server.pem'), keyFile: join(dir, 'server-key.pem') };
  signer = await startSigner(testConfig(dir, { insecure: false, tls, jsonRpc: { host: '127.0.0.1', port: 0 } }), silentLogger);
  url = signer.jsonRpc!.url;
  relayerCert = await issueCertificate({ subject: 'CN=ignored', uri: 'spiffe://test.example/relayer', issuer: ca });
  const admin = await issueCertificate({ subject: 'CN=admin-by-cn', issuer: ca });
  const { proto } = loadSignerPackage();
  const client = new proto.signer.v1.Signer(`127.0.0.1:${signer.port}`, grpc.credentials.createSsl(Buffer.from(ca.certPem), Buffer.from(admin.keyPem), Buffer.from(admin.certPem)), {
    'grpc.ssl_target_name_override': 'localhost',
  });
  relayerAddress = (await callUnary<Key__Output>(client, 'CreateKey', { name: 'prod/relayer/hot', type: 'KEY_TYPE_SECP256K1' })).ethereumAddress;
  treasuryAddress = (await callUnary<Key__Output>(client, 'CreateKey', { name: 'prod/treasury/cold', type: 'KEY_TYPE_SECP256K1' })).ethereumAddress;
  client.close();
});

test.after.always(async () => {
  await signer?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('HTTPS with a client certificate from the CA: the identity of its URI SAN, limited by the access file', async (t) => {
  t.true(url.startsWith('https://127.0.0.1:'));
  t.deepEqual((await rpcTls(url, ca.certPem, 'eth_accounts', [], relayerCert)).result, [relayerAddress]);
  const signed = await rpcTls<string>(url, ca.certPem, 'personal_sign', ['0x6869', relayerAddress], relayerCert);
  t.is(verifyMessage('hi', signed.result!), relayerAddress);
  // Another key's address is as unknown to this caller as no key at all.
  const other = await rpcTls(url, ca.certPem, 'personal_sign', ['0x6869', treasuryAddress], relayerCert);
  t.like(other.error, { code: -32007, data: { signerCode: 'KEY_NOT_FOUND', field: 'params[1]' } });
});

test('no certificate, or one from a foreign CA, is -32001 UNAUTHENTICATED, and audited', async (t) => {
  const none = await rpcTls(url, ca.certPem, 'eth_accounts', []);
  t.like(none.error, { code: -32001, data: { signerCode: 'UNAUTHENTICATED' } });
  t.regex(none.error!.message, /valid client certificate from a trusted CA is required/);
  const foreignCa = await issueCertificate({ subject: 'CN=another CA', ca: true });
  const forged = await issueCertificate({ subject: 'CN=ignored', uri: 'spiffe://test.example/relayer', issuer: foreignCa });
  const refused = await rpcTls(url, ca.certPem, 'personal_sign', ['0x6869', relayerAddress], forged);
  t.like(refused.error, { code: -32001, data: { signerCode: 'UNAUTHENTICATED' } });
  // Forwarded methods too: nothing reaches the node for an unauthenticated caller.
  t.like((await rpcTls(url, ca.certPem, 'eth_blockNumber', [], forged)).error, { code: -32001 });
  const audited = (await signer.store.auditRecords(0, 1_000_000)).filter((r) => r.reason === 'UNAUTHENTICATED');
  t.true(audited.some((r) => r.method === 'ListKeys') && audited.some((r) => r.method === 'SignPersonalMessage'));
});

test('an identity without a grant is -32002 ACCESS_DENIED', async (t) => {
  const stranger = await issueCertificate({ subject: 'CN=stranger', issuer: ca });
  t.like((await rpcTls(url, ca.certPem, 'eth_accounts', [], stranger)).error, { code: -32002, data: { signerCode: 'ACCESS_DENIED' } });
  const signing = await rpcTls(url, ca.certPem, 'personal_sign', ['0x6869', relayerAddress], stranger);
  t.like(signing.error, { code: -32002, message: 'stranger may not call SignPersonalMessage' });
  t.like((await rpcTls(url, ca.certPem, 'eth_chainId', [], stranger)).error, { code: -32002 });
});

test('without a downstream node, what needs one is -32010 naming what needed it', async (t) => {
  const send = await rpcTls(url, ca.certPem, 'eth_sendTransaction', [{ from: relayerAddress, to: relayerAddress, value: '0x1' }], relayerCert);
  t.like(send.error, { code: -32010, data: { signerCode: 'NODE_UNAVAILABLE' } });
  const unfilled = await rpcTls(url, ca.certPem, 'eth_signTransaction', [{ from: relayerAddress, to: relayerAddress, chainId: '0x1', gas: '0x5208', maxFeePerGas: '0x2', maxPriorityFeePerGas: '0x1' }], relayerCert);
  t.like(unfilled.error, { code: -32010 });
  t.regex(unfilled.error!.message, /"transaction\.nonce" needs a downstream node/);
  t.like((await rpcTls(url, ca.certPem, 'eth_blockNumber', [], relayerCert)).error, { code: -32010 });
  // Everything given: no node needed.
  const complete = await rpcTls<string>(url, ca.certPem, 'eth_signTransaction', [{ from: relayerAddress, to: relayerAddress, chainId: '0x1', nonce: '0x0', gas: '0x5208', maxFeePerGas: '0x2', maxPriorityFeePerGas: '0x1' }], relayerCert);
  t.regex(complete.result!, /^0x02f8/);
});
