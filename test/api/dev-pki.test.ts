import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { ensureDevPki } from '../../src/api/dev-pki.js';
import { readCaBundle } from '../../src/api/pem-bundle.js';

test('development PEM files end with a newline (old ones are repaired), so `cat` makes a bundle read whole', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'signer-dev-pki-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const first = await ensureDevPki(join(dir, 'one'));
  const second = await ensureDevPki(join(dir, 'two'));
  const pems = readdirSync(first.dir).filter((name) => name.endsWith('.pem'));
  t.true(pems.length >= 4);
  for (const name of pems) t.true(readFileSync(join(first.dir, name), 'utf8').endsWith('-----\n'), name);

  // A PKI written before this fix: its CA file lacks the final newline until the next start.
  writeFileSync(second.caCert, readFileSync(second.caCert, 'utf8').trimEnd());
  const glued = join(dir, 'glued.pem');
  writeFileSync(glued, readFileSync(second.caCert, 'utf8') + readFileSync(first.caCert, 'utf8'));
  t.throws(() => readCaBundle(glued), { message: /a PEM marker must stand on a line of its own/ });
  await ensureDevPki(second.dir);
  const bundle = join(dir, 'bundle.pem');
  writeFileSync(bundle, readFileSync(second.caCert, 'utf8') + readFileSync(first.caCert, 'utf8'));
  t.deepEqual(
    readCaBundle(bundle).map((ca) => ca.subject),
    ['CN=signer development CA', 'CN=signer development CA'],
  );
});
