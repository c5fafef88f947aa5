import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { issueCertificate } from '../../../src/api/dev-pki.js';
import { silentLogger } from '../../../src/api/json-logger.js';
import { startSigner } from '../../../src/app.js';
import { rpc } from '../../helpers/json-rpc.js';
import { PERMISSIVE_POLICY, testConfig, writePolicies } from '../../helpers/signer.js';

// One service per test process: two in one process would share (and finalize) one PKCS#11 module.
const ACCESS = `
grants:
  - identity: admin-by-cn
    roles: [admin]
    keys: ["**"]
`;

test('the plaintext identity serves loopback only, and its identity is limited by the access file', async (t) => {
  const other = mkdtempSync(join(tmpdir(), 'signer-json-rpc-plain-'));
  t.teardown(() => rmSync(other, { recursive: true, force: true }));
  writePolicies(other, { 'access.yaml': ACCESS, 'all.yaml': PERMISSIVE_POLICY });
  const dir = other;
  const ca = await issueCertificate({ subject: 'CN=test CA', ca: true });
  const server = await issueCertificate({ subject: 'CN=localhost', issuer: ca, dns: ['localhost'], ip: ['127.0.0.1'] });
  writeFileSync(join(dir, 'ca.pem'), ca.certPem);
  writeFileSync(join(dir, 'server.pem'), server.certPem);
  writeFileSync(join(dir, 'server-key.pem'), server.keyPem);
  const tls = { caFile: join(dir, 'ca.pem'), certFile: join(dir, 'server.pem'), keyFile: join(dir, 'server-key.pem') };
  await t.throwsAsync(
    startSigner(testConfig(other, { insecure: false, tls, jsonRpc: { host: '0.0.0.0', port: 0 }, jsonRpcPlaintextIdentity: 'sidecar' }), silentLogger),
    { message: /refusing to serve JSON-RPC in plaintext on 0\.0\.0\.0/ },
  );
  const sidecar = await startSigner(testConfig(other, { insecure: false, tls, jsonRpc: { host: '127.0.0.1', port: 0 }, jsonRpcPlaintextIdentity: 'sidecar' }), silentLogger);
  t.true(sidecar.jsonRpc!.url.startsWith('http://127.0.0.1:'));
  const refused = await rpc(sidecar.jsonRpc!.url, 'eth_accounts');
  await sidecar.stop();
  t.like(refused.error, { code: -32002, message: 'sidecar may not call ListKeys' });
});
