import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { SOFTHSM_MODULE } from '../../src/keystore/dev-token.js';
import { FAULTS_ENV } from '../../src/testing/faults.js';
import { exitCode, MAIN, startMain } from '../helpers/main-process.js';
import { PERMISSIVE_POLICY, writePolicies } from '../helpers/signer.js';

const INIT_TOKEN = join(import.meta.dirname, '..', '..', '..', 'softhsm', 'init-token.sh');
// OpenSC's PKCS#11 spy: forwards every call to PKCS11SPY and logs it to PKCS11SPY_OUTPUT.
const SPY_MODULE = ['/usr/lib/x86_64-linux-gnu/pkcs11/pkcs11-spy.so', '/usr/lib/x86_64-linux-gnu/pkcs11-spy.so'].find(existsSync);

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
    args: ['--data-dir', join(dir, 'data'), '--pkcs11-module', SPY_MODULE!, '--token-label', label, '--jwks-address', '127.0.0.1:0', '--json-rpc-address', '127.0.0.1:0'],
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
