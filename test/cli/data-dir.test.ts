import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { DEFAULT_DATA_DIR, parseConfig } from '../../src/config.js';
import { runCli } from '../helpers/cli.js';
import { startTestSigner, type TestSigner } from '../helpers/signer.js';

let t0: TestSigner;
let elsewhere: string;
test.before(async () => {
  t0 = await startTestSigner();
  await t0.call('CreateKey', { name: 'cli/data-dir', type: 'KEY_TYPE_P256' });
  elsewhere = mkdtempSync(join(tmpdir(), 'signer-cwd-'));
});
test.after.always(async () => {
  await t0?.stop();
  rmSync(elsewhere, { recursive: true, force: true });
});

// Run from an unrelated directory, with no SIGNER_* variables but the ones a test sets.
const fromElsewhere = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  runCli(args, { cwd: elsewhere, env: { SIGNER_DATA_DIR: undefined, SIGNER_DATABASE: undefined, SIGNER_CLIENT_CA: undefined, SIGNER_CLIENT_CERT: undefined, SIGNER_CLIENT_KEY: undefined, ...env } });

test('the CLI finds the data directory as the service does: --data-dir, then SIGNER_DATA_DIR, never the current directory', async (t) => {
  const byEnv = await fromElsewhere(['requests', 'unfinished', '--json'], { SIGNER_DATA_DIR: t0.dir });
  t.is(byEnv.code, 0, byEnv.stderr);
  const byFlag = await fromElsewhere(['requests', 'unfinished', '--data-dir', t0.dir]);
  t.is(byFlag.code, 0, byFlag.stderr);
  t.is(byFlag.stdout, 'no unfinished sign requests\n');
  // The flag wins over the environment, as for the service.
  t.is((await fromElsewhere(['requests', 'unfinished', '--data-dir', t0.dir], { SIGNER_DATA_DIR: join(elsewhere, 'nothing') })).code, 0);
});

test('the default is data/ in the package for both the service and the CLI, not ./data', async (t) => {
  t.is(parseConfig([], {}).dataDir, DEFAULT_DATA_DIR);
  t.is(DEFAULT_DATA_DIR, join(import.meta.dirname, '..', '..', '..', 'data'));
  // mTLS defaults come from <data-dir>/pki: the missing file is named with its whole path.
  const noPki = await fromElsewhere(['keys', 'list', '--server', '127.0.0.1:1'], { SIGNER_DATA_DIR: join(elsewhere, 'd') });
  t.is(noPki.code, 1);
  t.regex(noPki.stderr, new RegExp(`--ca ${join(elsewhere, 'd', 'pki', 'ca.pem')}: no such file`));
  const defaulted = await fromElsewhere(['keys', 'list', '--server', '127.0.0.1:1']);
  t.false(defaulted.stderr.includes(join(elsewhere, 'data')), defaulted.stderr);
});
