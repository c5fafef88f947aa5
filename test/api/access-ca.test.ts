import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { issueCertificate } from '../../src/api/dev-pki.js';
import { loadSignerPackage, type SignerClient } from '../../src/api/proto.js';
import type { ListKeysResponse__Output } from '../../src/api/generated/signer/v1/ListKeysResponse.js';
import { startSigner, type RunningSigner } from '../../src/app.js';
import type { Logger } from '../../src/domain/logger.js';
import { callUnary, PERMISSIVE_POLICY, rpcFailure, testConfig, writePolicies } from '../helpers/signer.js';

type Issued = Awaited<ReturnType<typeof issueCertificate>>;

const RELAYER = 'spiffe://test.example/relayer';
let signer: RunningSigner;
let dir: string;
let ca1: Issued;
let ca2: Issued;
const clients: grpc.Client[] = [];
const warnings: Array<{ message: string; fields?: Record<string, unknown> }> = [];
const log: Logger = { info() {}, warn: (message, fields) => void warnings.push({ message, ...(fields ? { fields } : {}) }), error() {} };

function client(cert: { certPem: string; keyPem: string }): SignerClient {
  const { proto } = loadSignerPackage();
  const credentials = grpc.credentials.createSsl(Buffer.from(ca1.certPem), Buffer.from(cert.keyPem), Buffer.from(cert.certPem));
  const c = new proto.signer.v1.Signer(`127.0.0.1:${signer.port}`, credentials, { 'grpc.ssl_target_name_override': 'localhost' });
  clients.push(c);
  return c;
}

const fingerprint = (ca: Issued) => new X509Certificate(ca.certPem).fingerprint256;

// Two trusted CAs, in a bundle made with `cat`. The relayer is bound to the first CA (once in
// lowercase hex, once as a list in openssl's colon form: both name the same CA); the admin to none.
test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'signer-access-ca-'));
  ca1 = await issueCertificate({ subject: 'CN=first CA', ca: true });
  ca2 = await issueCertificate({ subject: 'CN=second CA', ca: true });
  const server = await issueCertificate({ subject: 'CN=localhost', issuer: ca1, dns: ['localhost'], ip: ['127.0.0.1'] });
  writeFileSync(join(dir, 'bundle.pem'), ca1.certPem + ca2.certPem);
  writeFileSync(join(dir, 'server.pem'), server.certPem);
  writeFileSync(join(dir, 'server-key.pem'), server.keyPem);
  const access = `
grants:
  - identity: "${RELAYER}"
    roles: [reader]
    keys: ["**"]
    ca: "${fingerprint(ca1).replace(/:/g, '').toLowerCase()}"
  - identity: "${RELAYER}"
    roles: [signer]
    keys: ["*/relayer/*"]
    ca: ["${fingerprint(ca1)}"]
  - identity: admin-by-cn
    roles: [admin]
    keys: ["**"]
`;
  writePolicies(dir, { 'access.yaml': access, 'all.yaml': PERMISSIVE_POLICY });
  signer = await startSigner(
    testConfig(dir, { insecure: false, tls: { caFile: join(dir, 'bundle.pem'), certFile: join(dir, 'server.pem'), keyFile: join(dir, 'server-key.pem') } }),
    log,
  );
});

test.after.always(async () => {
  for (const c of clients) c.close();
  await signer?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test.serial('a grant naming its CA: only certificates issued by that CA stand for the identity, on every call', async (t) => {
  const genuine = client(await issueCertificate({ subject: 'CN=relayer', issuer: ca1, uri: RELAYER }));
  t.deepEqual((await callUnary<ListKeysResponse__Output>(genuine, 'ListKeys', {})).keys, []);
  const missing = await rpcFailure(callUnary(genuine, 'GetKey', { name: 'prod/relayer/none' }));
  t.is(missing.errorCode, 'KEY_NOT_FOUND', 'the genuine identity gets past authentication and access');

  // The second CA is trusted by TLS (the message below is ours, after the handshake), but it
  // cannot mint this identity, whatever the RPC.
  const minted = client(await issueCertificate({ subject: 'CN=relayer', issuer: ca2, uri: RELAYER }));
  for (const [method, request] of [
    ['ListKeys', {}],
    ['GetKey', { name: 'prod/relayer/none' }],
    ['SignPersonalMessage', { keyName: 'prod/relayer/none', message: Buffer.from('hi') }],
  ] as const) {
    const failure = await rpcFailure(callUnary(minted, method, request));
    t.is(failure.code, grpc.status.UNAUTHENTICATED, method);
    t.is(failure.errorCode, 'UNAUTHENTICATED');
    t.is(failure.details, `the client certificate for ${RELAYER} is issued by CA ${fingerprint(ca2)}, not by a CA its grant in access.yaml names`);
  }
});

test.serial('with several trusted CAs, an identity whose grants name no CA is refused, whichever CA issued it', async (t) => {
  for (const ca of [ca1, ca2]) {
    const admin = client(await issueCertificate({ subject: 'CN=admin-by-cn', issuer: ca }));
    const failure = await rpcFailure(callUnary(admin, 'ListKeys', {}));
    t.is(failure.code, grpc.status.PERMISSION_DENIED);
    t.is(failure.details, 'admin-by-cn is refused: --tls-ca trusts 2 CAs and access.yaml does not name the one that issues this identity (ca: <SHA-256 fingerprint>)');
  }
});

test.serial('at start-up, identities that several trusted CAs could mint are named in a warning', (t) => {
  t.deepEqual(warnings, [
    {
      message: '--tls-ca trusts several CAs: these identities name no CA in access.yaml and are refused on every call',
      fields: { cas: 2, identities: ['admin-by-cn'] },
    },
  ]);
});
