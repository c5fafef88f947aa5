import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { issueCertificate } from '../../src/api/dev-pki.js';
import { loadSignerPackage, type SignerClient } from '../../src/api/proto.js';
import type { ListKeysResponse__Output } from '../../src/api/generated/signer/v1/ListKeysResponse.js';
import { startSigner, type RunningSigner } from '../../src/app.js';
import { silentLogger } from '../../src/api/json-logger.js';
import { callUnary, PERMISSIVE_POLICY, rpcFailure, testConfig, writePolicies } from '../helpers/signer.js';
import { AccessFileError, AccessRules } from '../../src/policy/access.js';

const ACCESS = `
grants:
  - identity: "spiffe://test.example/relayer"
    roles: [signer]
    keys: ["*/relayer/*"]
  - identity: admin-by-cn
    roles: [admin]
    keys: ["**"]
`;

interface Pki {
  ca: Awaited<ReturnType<typeof issueCertificate>>;
  dir: string;
}

let signer: RunningSigner;
let dir: string;
let pki: Pki;
const clients: grpc.Client[] = [];

/** A client presenting `identity` (or no certificate), over TLS to the test server. */
function client(cert?: { certPem: string; keyPem: string }): SignerClient {
  const { proto } = loadSignerPackage();
  const credentials = grpc.credentials.createSsl(Buffer.from(pki.ca.certPem), cert ? Buffer.from(cert.keyPem) : null, cert ? Buffer.from(cert.certPem) : null);
  const c = new proto.signer.v1.Signer(`127.0.0.1:${signer.port}`, credentials, { 'grpc.ssl_target_name_override': 'localhost' });
  clients.push(c);
  return c;
}

const issue = (options: Parameters<typeof issueCertificate>[0]) => issueCertificate({ issuer: pki.ca, ...options });

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'signer-access-'));
  const ca = await issueCertificate({ subject: 'CN=test CA', ca: true });
  pki = { ca, dir };
  const server = await issueCertificate({ subject: 'CN=localhost', issuer: ca, dns: ['localhost'], ip: ['127.0.0.1'] });
  writeFileSync(join(dir, 'ca.pem'), ca.certPem);
  writeFileSync(join(dir, 'server.pem'), server.certPem);
  writeFileSync(join(dir, 'server-key.pem'), server.keyPem);
  writePolicies(dir, { 'access.yaml': ACCESS, 'all.yaml': PERMISSIVE_POLICY });
  signer = await startSigner(
    testConfig(dir, { insecure: false, tls: { caFile: join(dir, 'ca.pem'), certFile: join(dir, 'server.pem'), keyFile: join(dir, 'server-key.pem') } }),
    silentLogger,
  );
});

test.after.always(async () => {
  for (const c of clients) c.close();
  await signer?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test.serial('identities come from the URI SAN, else the CN; roles and key globs decide', async (t) => {
  const admin = client(await issue({ subject: 'CN=admin-by-cn' }));
  const relayer = client(await issue({ subject: 'CN=ignored', uri: 'spiffe://test.example/relayer' }));
  await callUnary(admin, 'CreateKey', { name: 'prod/relayer/hot', type: 'KEY_TYPE_SECP256K1' });
  await callUnary(admin, 'CreateKey', { name: 'prod/treasury/cold', type: 'KEY_TYPE_SECP256K1' });
  await t.notThrowsAsync(callUnary(relayer, 'SignPersonalMessage', { keyName: 'prod/relayer/hot', message: Buffer.from('hi') }));

  const otherKey = await rpcFailure(callUnary(relayer, 'SignPersonalMessage', { keyName: 'prod/treasury/cold', message: Buffer.from('hi') }));
  t.is(otherKey.code, grpc.status.PERMISSION_DENIED);
  t.is(otherKey.details, 'spiffe://test.example/relayer may not call SignPersonalMessage on key "prod/treasury/cold"');
  // A key that does not exist is refused the same way: access is checked before the key is looked up.
  const missing = await rpcFailure(callUnary(relayer, 'GetKey', { name: 'prod/treasury/nope' }));
  t.is(missing.code, grpc.status.PERMISSION_DENIED);

  const adminOnly = await rpcFailure(callUnary(relayer, 'CreateKey', { name: 'prod/relayer/new', type: 'KEY_TYPE_P256' }));
  t.is(adminOnly.code, grpc.status.PERMISSION_DENIED);
  t.is(adminOnly.errorCode, 'ACCESS_DENIED');
  const reload = await rpcFailure(callUnary(relayer, 'ReloadPolicies', {}));
  t.is(reload.code, grpc.status.PERMISSION_DENIED);

  // Admins manage keys but do not sign.
  const adminSigns = await rpcFailure(callUnary(admin, 'SignPersonalMessage', { keyName: 'prod/relayer/hot', message: Buffer.from('hi') }));
  t.is(adminSigns.code, grpc.status.PERMISSION_DENIED);

  const listed = await callUnary<ListKeysResponse__Output>(relayer, 'ListKeys', {});
  t.deepEqual(listed.keys.map((k) => k.name), ['prod/relayer/hot']);
});

test.serial('no certificate is UNAUTHENTICATED', async (t) => {
  const failure = await rpcFailure(callUnary(client(), 'ListKeys', {}));
  t.is(failure.code, grpc.status.UNAUTHENTICATED);
  t.regex(failure.details, /valid client certificate from a trusted CA is required/);
});

test.serial('a certificate from another CA is UNAUTHENTICATED', async (t) => {
  const otherCa = await issueCertificate({ subject: 'CN=another CA', ca: true });
  const forged = await issueCertificate({ subject: 'CN=admin-by-cn', issuer: otherCa });
  const failure = await rpcFailure(callUnary(client(forged), 'ListKeys', {}));
  t.is(failure.code, grpc.status.UNAUTHENTICATED);
  t.regex(failure.details, /valid client certificate from a trusted CA is required/);
});

test.serial('an expired certificate is UNAUTHENTICATED', async (t) => {
  const expired = await issue({ subject: 'CN=admin-by-cn', notBefore: new Date(Date.now() - 2 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) });
  const failure = await rpcFailure(callUnary(client(expired), 'ListKeys', {}));
  t.is(failure.code, grpc.status.UNAUTHENTICATED);
  t.regex(failure.details, /valid client certificate from a trusted CA is required/);
});

test.serial('an identity with no grant can call nothing', async (t) => {
  const stranger = client(await issue({ subject: 'CN=stranger' }));
  const failure = await rpcFailure(callUnary(stranger, 'ListKeys', {}));
  t.is(failure.code, grpc.status.PERMISSION_DENIED);
  t.is(failure.details, 'stranger may not call ListKeys');
});

test.serial('a CN that looks like a URI cannot pose as a URI SAN identity', async (t) => {
  const posing = client(await issue({ subject: 'CN=spiffe://test.example/relayer' }));
  const failure = await rpcFailure(callUnary(posing, 'ListKeys', {}));
  t.is(failure.code, grpc.status.UNAUTHENTICATED);
  t.regex(failure.details, /must not contain ":"/);
});

test.serial('an unknown sign request id is NOT_FOUND with REQUEST_NOT_FOUND, not KEY_NOT_FOUND', async (t) => {
  const relayer = client(await issue({ subject: 'CN=ignored', uri: 'spiffe://test.example/relayer' }));
  const failure = await rpcFailure(callUnary(relayer, 'GetSignRequest', { id: 'no-such-request' }));
  t.is(failure.code, grpc.status.NOT_FOUND);
  t.is(failure.errorCode, 'REQUEST_NOT_FOUND');
  t.is(failure.details, 'no sign request no-such-request');
});

test('the access file refuses a malformed CA fingerprint and an identity bound to different CAs, naming line and field', (t) => {
  const a = 'AB'.repeat(32);
  const b = 'CD'.repeat(32);
  const error = t.throws(
    () =>
      AccessRules.parse(`grants:
  - identity: x
    roles: [reader]
    keys: ["**"]
    ca: "not-a-fingerprint"
  - identity: y
    roles: [reader]
    keys: ["**"]
    ca: "${a}"
  - identity: y
    roles: [signer]
    keys: ["a/*"]
    ca: "${b}"
  - identity: y
    roles: [admin]
    keys: ["a/*"]
`),
    { instanceOf: AccessFileError },
  );
  t.deepEqual(error?.problems, [
    'access.yaml:5: grants.0.ca: must be the SHA-256 fingerprint of a CA certificate (64 hex digits, colons allowed)',
    'access.yaml:13: grants.2.ca: "y" must name the same CAs as its other grant (grants.1)',
    'access.yaml:14: grants.3.identity: "y" must name the same CAs as its other grant (grants.1)',
  ]);
});
