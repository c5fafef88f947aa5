import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { SOFTHSM_MODULE } from '../../src/keystore/dev-token.js';
import { SPY_MODULES } from '../../src/keystore/platform.js';
import { issueCertificate } from '../../src/api/dev-pki.js';
import { FAULTS_ENV } from '../../src/testing/faults.js';
import { exitCode, MAIN, startMain } from '../helpers/main-process.js';
import { PERMISSIVE_POLICY, writePolicies } from '../helpers/signer.js';

const INIT_TOKEN = join(import.meta.dirname, '..', '..', '..', 'softhsm', 'init-token.sh');
// OpenSC's PKCS#11 spy: forwards every call to PKCS11SPY and logs it to PKCS11SPY_OUTPUT.
const SPY_MODULE = SPY_MODULES.find(existsSync);

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'signer-startup-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A SoftHSM token with user PIN `right-pin`, and the environment that points SoftHSM at it. */
function initToken(dir: string, label: string): NodeJS.ProcessEnv {
  const tokenDir = join(dir, 'hsm');
  const init = spawnSync(INIT_TOKEN, [tokenDir, label], {
    env: { ...process.env, SIGNER_HSM_PIN: 'right-pin', SIGNER_HSM_SO_PIN: 'so-pin-1234' },
    encoding: 'utf8',
  });
  if (init.status !== 0) throw new Error(init.stderr);
  return { SOFTHSM2_CONF: join(tokenDir, 'softhsm2.conf') };
}

/** Arguments and environment that run the service against SoftHSM through the spy, logging to `log`. */
function throughSpy(dir: string, label: string, log: string) {
  return {
    args: ['--data-dir', join(dir, 'data'), '--pkcs11-module', SPY_MODULE!, '--token-label', label, '--jwks-address', '127.0.0.1:0'],
    env: { PKCS11SPY: SOFTHSM_MODULE, PKCS11SPY_OUTPUT: log },
  };
}

const runMain = (args: string[], env: NodeJS.ProcessEnv) =>
  spawnSync(process.execPath, [MAIN, '--port', '0', ...args], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000 });
const loginCalls = (spyLog: string) => readFileSync(spyLog, 'utf8').match(/^\d+: C_Login$/gm)?.length ?? 0;

test('a wrong PIN refuses start-up after one login attempt, without echoing the PIN; the right PIN still works afterwards', async (t) => {
  if (!SPY_MODULE) return t.fail('pkcs11-spy.so (from opensc) is required');
  const dir = tempDir(t);
  const tokenEnv = initToken(dir, 'pin-test');
  const policyDir = writePolicies(dir, { 'test.yaml': PERMISSIVE_POLICY });
  const wrongSpy = join(dir, 'wrong.log');
  const wrong = throughSpy(dir, 'pin-test', wrongSpy);
  const result = runMain([...wrong.args, '--policy-dir', policyDir, '--insecure'], { ...tokenEnv, ...wrong.env, SIGNER_HSM_PIN: 'wrong-pin' });

  t.is(result.status, 1);
  t.regex(result.stderr, /signer failed to start: HSM login failed: the PIN was refused: CKR_PIN_INCORRECT/);
  t.notRegex(result.stderr + result.stdout, /wrong-pin|right-pin/);
  t.is(loginCalls(wrongSpy), 1, 'exactly one C_Login: no retry loop that could lock the PIN');
  t.regex(readFileSync(wrongSpy, 'utf8'), /C_Finalize/); // it let go of the module and exited

  // The token was not locked or otherwise harmed: the right PIN starts the service.
  const rightSpy = join(dir, 'right.log');
  const right = throughSpy(dir, 'pin-test', rightSpy);
  const started = await startMain(join(dir, 'data'), policyDir, { ...tokenEnv, ...right.env, SIGNER_HSM_PIN: 'right-pin' }, ['--insecure', ...right.args]);
  started.child.kill('SIGTERM');
  t.is(await exitCode(started.child), 0);
  t.is(loginCalls(rightSpy), 1);
});

test('a missing token refuses start-up naming the label, without trying to log in', (t) => {
  if (!SPY_MODULE) return t.fail('pkcs11-spy.so (from opensc) is required');
  const dir = tempDir(t);
  const tokenEnv = initToken(dir, 'present');
  const spyLog = join(dir, 'spy.log');
  const spy = throughSpy(dir, 'absent', spyLog);
  const result = runMain([...spy.args, '--policy-dir', writePolicies(dir, {}), '--insecure'], { ...tokenEnv, ...spy.env, SIGNER_HSM_PIN: 'right-pin' });
  t.is(result.status, 1);
  t.regex(result.stderr, /signer failed to start: no token labelled "absent" in the PKCS#11 module/);
  t.is(loginCalls(spyLog), 0);
});

test('a missing PKCS#11 module refuses start-up naming it', (t) => {
  const dir = tempDir(t);
  const result = runMain(
    ['--data-dir', dir, '--policy-dir', writePolicies(dir, {}), '--insecure', '--pkcs11-module', join(dir, 'no-such-module.so'), '--jwks-address', 'off'],
    { SIGNER_HSM_PIN: '1234' },
  );
  t.is(result.status, 1);
  t.regex(result.stderr, /signer failed to start: cannot load PKCS#11 module .*no-such-module\.so/);
});

test(`${FAULTS_ENV} is announced loudly at start; an invalid value refuses start-up`, async (t) => {
  const dir = tempDir(t);
  const policyDir = writePolicies(dir, {});
  const refused = runMain(['--data-dir', dir, '--policy-dir', policyDir, '--insecure', '--jwks-address', 'off'], { [FAULTS_ENV]: 'hsm-delay=5' });
  t.is(refused.status, 1);
  t.regex(refused.stderr, /signer failed to start: SIGNER_TEST_FAULTS: unknown fault "hsm-delay"/);

  const started = await startMain(dir, policyDir, { [FAULTS_ENV]: 'hsm-delay-ms=1' });
  t.regex(started.stdout, /^WARNING: SIGNER_TEST_FAULTS is set: TEST FAULT INJECTION IS ACTIVE \(hsm-delay-ms=1\)\. For tests only/);
  started.child.kill('SIGTERM');
  t.is(await exitCode(started.child), 0);
  t.regex(started.stderr(), /"level":"warn","message":"SIGNER_TEST_FAULTS is set/);
});

/** A port some other process holds, for as long as the test runs. */
async function busyPort(t: { teardown(fn: () => void): void }): Promise<number> {
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  t.teardown(() => holder.close());
  return (holder.address() as AddressInfo).port;
}

test('a port clash names the listener and the flag that moves it', async (t) => {
  const dir = tempDir(t);
  const policyDir = writePolicies(dir, {});
  const base = ['--data-dir', join(dir, 'data'), '--policy-dir', policyDir, '--insecure'];
  const cases = [
    { name: 'gRPC', flag: '--port \\(or --host\\)', args: (port: number) => ['--port', String(port), '--jwks-address', '127.0.0.1:0', '--metrics-address', '127.0.0.1:0'] },
    { name: 'JWKS', flag: '--jwks-address', args: (port: number) => ['--jwks-address', `127.0.0.1:${port}`, '--metrics-address', '127.0.0.1:0'] },
    { name: 'metrics', flag: '--metrics-address', args: (port: number) => ['--jwks-address', '127.0.0.1:0', '--metrics-address', `127.0.0.1:${port}`] },
  ];
  for (const { name, flag, args } of cases) {
    const port = await busyPort(t);
    // runMain puts --port 0 first; a later --port wins.
    const result = runMain([...base, ...args(port)], {});
    t.is(result.status, 1, name);
    // grpc-js logs its own "No address added" line first.
    t.regex(result.stderr, new RegExp(`(^|\n)signer failed to start: the ${name} listener cannot bind 127\\.0\\.0\\.1:${port}: the address is already in use; move it with ${flag}\n$`));
  }
});

test('a database file that is not a database is refused, naming its path, and left as it was', (t) => {
  const dir = tempDir(t);
  const notDb = join(dir, 'notes.txt');
  const text = 'these are my notes, not a database\n'.repeat(200);
  writeFileSync(notDb, text);
  const result = runMain(['--data-dir', join(dir, 'data'), '--database', notDb, '--policy-dir', writePolicies(dir, {}), '--insecure', '--jwks-address', 'off', '--metrics-address', 'off'], {});
  t.is(result.status, 1);
  t.is(result.stderr, `signer failed to start: ${notDb} is not a SQLite database (is --database pointing at the right file?)\n`);
  t.is(readFileSync(notDb, 'utf8'), text);
});

test('a --tls-ca bundle whose certificates were glued together by cat is refused, naming the file and the line', async (t) => {
  const dir = tempDir(t);
  const ca = await issueCertificate({ subject: 'CN=first CA', ca: true });
  const other = await issueCertificate({ subject: 'CN=other CA', ca: true });
  const server = await issueCertificate({ subject: 'CN=localhost', issuer: ca, dns: ['localhost'] });
  // As `cat ca.pem other.pem` makes it when ca.pem has no final newline.
  const bundle = join(dir, 'bundle.pem');
  writeFileSync(bundle, ca.certPem.trimEnd() + other.certPem);
  writeFileSync(join(dir, 'server.pem'), server.certPem);
  writeFileSync(join(dir, 'server-key.pem'), server.keyPem, { mode: 0o600 });
  const glued = ca.certPem.trimEnd().split('\n').length;
  const result = runMain(
    ['--data-dir', join(dir, 'data'), '--policy-dir', writePolicies(dir, {}), '--tls-ca', bundle, '--tls-cert', join(dir, 'server.pem'), '--tls-key', join(dir, 'server-key.pem')],
    { SIGNER_JWKS_ADDRESS: 'off', SIGNER_METRICS_ADDRESS: 'off' },
  );
  t.is(result.status, 1);
  t.regex(result.stderr, new RegExp(`^signer failed to start: --tls-ca ${bundle}:${glued}: a PEM marker must stand on a line of its own, found "-----END CERTIFICATE----------BEGIN CERTIFICATE-----"`));
});

test('without SoftHSM, start-up and the test suite say in one line what is missing and how to install it', (t) => {
  const dir = tempDir(t);
  // No PATH: softhsm2-util and pkcs11-tool cannot be found, as on a machine without them.
  const result = runMain(['--data-dir', dir, '--policy-dir', writePolicies(dir, {}), '--insecure', '--jwks-address', 'off'], { PATH: '' });
  t.is(result.status, 1);
  t.is(
    result.stderr,
    'signer failed to start: the development token needs SoftHSM2 (or give --pkcs11-module): softhsm2-util not found: install with "sudo apt-get install -y softhsm2" (as root: "apt-get install -y softhsm2")\n',
  );

  const check = (path: string) =>
    spawnSync(process.execPath, [join(import.meta.dirname, '..', '..', 'src', 'keystore', 'platform.js'), 'tests'], { env: { ...process.env, PATH: path }, encoding: 'utf8' });
  const missing = check('');
  t.is(missing.status, 1);
  t.is(
    missing.stderr,
    'the tests need SoftHSM2 and OpenSC: softhsm2-util, pkcs11-tool not found: install with "sudo apt-get install -y softhsm2 opensc" (as root: "apt-get install -y softhsm2 opensc")\n',
  );
  const present = check(process.env.PATH ?? '');
  t.is(present.status, 0, 'this machine has both');
  t.is(present.stderr, '');
});
