import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { DEV_PIN } from '../../src/config.js';
import { runCli } from '../helpers/cli.js';

/** Whatever the machine running the tests has set: undefined removes it from the child's environment. */
const withoutHsmEnv = { SIGNER_PKCS11_MODULE: undefined, SIGNER_HSM_PIN: undefined, SIGNER_HSM_PIN_FILE: undefined, SIGNER_DATA_DIR: undefined, SIGNER_TOKEN_LABEL: undefined };

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'token-init-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const slots = (conf: string) => execFileSync('softhsm2-util', ['--show-slots'], { env: { ...process.env, SOFTHSM2_CONF: conf }, encoding: 'utf8' });

test('token init creates the development token once, then leaves it alone; it never prints a PIN', async (t) => {
  const dir = tempDir(t);
  const first = await runCli(['token', 'init', '--data-dir', dir, '--token-label', 'cli-dev'], { env: withoutHsmEnv });
  t.is(first.code, 0, first.stderr);
  t.regex(first.stdout, new RegExp(`^created development token "cli-dev" in ${dir}/softhsm \\(user PIN: the development PIN; SO PIN in ${dir}/softhsm/so-pin\\)\\n`));
  const conf = join(dir, 'softhsm', 'softhsm2.conf');
  t.regex(first.stdout, new RegExp(`export SOFTHSM2_CONF=${conf}\\n$`));
  t.regex(slots(conf), /Label:\s+cli-dev\s*\n/);

  const again = await runCli(['token', 'init', '--data-dir', dir, '--token-label', 'cli-dev', '--json'], { env: withoutHsmEnv });
  t.is(again.code, 0, again.stderr);
  t.like(JSON.parse(again.stdout), { created: false, tokenLabel: 'cli-dev', directory: join(dir, 'softhsm'), softhsm2Conf: conf });
  t.is(slots(conf).match(/Label:\s+cli-dev\s*\n/g)?.length, 1);

  const soPin = readFileSync(join(dir, 'softhsm', 'so-pin'), 'utf8').trim();
  for (const output of [first.stdout, first.stderr, again.stdout, again.stderr]) {
    t.false(output.includes(DEV_PIN));
    t.false(output.includes(soPin));
  }
});

test('token init uses SIGNER_HSM_PIN when set, without printing it', async (t) => {
  const dir = tempDir(t);
  const result = await runCli(['token', 'init', '--data-dir', dir], { env: { ...withoutHsmEnv, SIGNER_HSM_PIN: 'custom-pin-4711' } });
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /created development token "signer-dev" .*\(user PIN: SIGNER_HSM_PIN;/);
  t.false(result.stdout.includes('custom-pin-4711'));
  // The token takes that PIN: a login with it works.
  const env = { ...process.env, SOFTHSM2_CONF: join(dir, 'softhsm', 'softhsm2.conf') };
  t.notThrows(() =>
    execFileSync('pkcs11-tool', ['--module', '/usr/lib/softhsm/libsofthsm2.so', '--token-label', 'signer-dev', '--login', '--pin', 'custom-pin-4711', '--list-objects'], { env, stdio: 'pipe' }),
  );
});

test('token init refuses an empty token label', async (t) => {
  const dir = tempDir(t);
  const result = await runCli(['token', 'init', '--data-dir', dir], { env: { ...withoutHsmEnv, SIGNER_TOKEN_LABEL: '' } });
  t.is(result.code, 1);
  t.regex(result.stderr, /--token-label.*must not be empty/);
  t.false(existsSync(join(dir, 'softhsm')));
});

test('token init refuses a real-HSM setup and creates nothing', async (t) => {
  const dir = tempDir(t);
  const result = await runCli(['token', 'init', '--data-dir', dir], { env: { ...withoutHsmEnv, SIGNER_PKCS11_MODULE: '/opt/vendor/libpkcs11.so' } });
  t.is(result.code, 1);
  t.regex(result.stderr, /^signer: SIGNER_PKCS11_MODULE is set \(\/opt\/vendor\/libpkcs11\.so\): this setup uses a real HSM\. token init only creates the development SoftHSM token/);
  t.false(existsSync(join(dir, 'softhsm')));
});
