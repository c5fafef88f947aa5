import { execFileSync } from 'node:child_process';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { Metadata, status } from '@grpc/grpc-js';
import { formatFields, formatRow, formatTable, shorten } from '../../src/cli/table.js';
import { progressEnabled, renderProgress, startProgress } from '../../src/cli/progress.js';
import { describeFailure } from '../../src/cli/failure.js';
import { toJson } from '../../src/cli/json-output.js';
import { runCli } from '../helpers/cli.js';

test('formatTable: columns as wide as their widest cell, "-" for empty cells, one line per row', (t) => {
  const text = formatTable(['NAME', 'N'], [['a', 1], ['longer', ''], ['two\nlines', undefined]]);
  t.is(text, 'NAME       N\na          1\nlonger     -\ntwo lines  -\n');
});

test('formatFields aligns values; formatRow keeps fixed widths and lets a wide cell push the rest right', (t) => {
  t.is(formatFields([['type', 'p256'], ['last used', '']]), '  type:      p256\n  last used: -\n');
  t.is(formatRow([3, 3, 0], ['a', 'b', 'c']), 'a    b    c');
  t.is(formatRow([3, 3, 0], ['abcdef', 'b', 'c']), 'abcdef  b    c');
});

test('formatTable within a width: the widest columns give way first, never below their header; hex is cut in the middle', (t) => {
  const address = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed';
  const text = formatTable(['NAME', 'ADDRESS', 'NOTE'], [['a', address, 'x'.repeat(40)]], 40);
  for (const line of text.trimEnd().split('\n')) t.true(line.length <= 40, line);
  t.is(text, 'NAME  ADDRESS           NOTE\na     0x5aAeb6…f1BeAed  xxxxxxxxxxxxxxx…\n');
  t.is(formatTable(['NAME'], [['abcdef']], 2), 'NAME\nabc…\n');
  t.is(formatTable(['T', 'NOTE'], [['2026-12-03 13:07', 'long note here']], 25, [0]), 'T                 NOTE\n2026-12-03 13:07  long n…\n');
  t.is(shorten('0x0123456789', 9), '0x01…6789');
  t.is(shorten('hello world', 6), 'hello…');
  t.is(shorten('send 6 ether to 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed', 32), 'send 6 ether to 0x5aAeb6…f1BeAed');
});

test('toJson prints bytes as 0x hex and bigints as strings', (t) => {
  t.is(toJson({ r: Buffer.from([1, 255]), u: Uint8Array.of(2), n: 10n ** 20n }), '{"r":"0x01ff","u":"0x02","n":"100000000000000000000"}');
});

test('renderProgress: bar, percent, counts, rate and time left', (t) => {
  t.is(renderProgress('records', 250_000, 1_000_000, 1000), 'records [########----------------------]  25% 250,000/1,000,000 (250,000/s, 3s left)');
  t.is(renderProgress('records', 10, 10, 0), 'records [##############################] 100% 10/10 (0/s)');
  t.is(renderProgress('checkpoints', 0, 0, 5), 'checkpoints [##############################] 100% 0/0 (0/s)');
});

test('progress is drawn only on a terminal unless SIGNER_PROGRESS says otherwise', (t) => {
  t.false(progressEnabled({ isTTY: false, write: () => true }, {}));
  t.true(progressEnabled({ isTTY: true, write: () => true }, {}));
  t.true(progressEnabled({ isTTY: false, write: () => true }, { SIGNER_PROGRESS: '1' }));
  t.false(progressEnabled({ isTTY: true, write: () => true }, { SIGNER_PROGRESS: '0' }));
  const written: string[] = [];
  const quiet = startProgress('x', 10, { output: { isTTY: false, write: (s: string) => written.push(s) }, env: {} });
  quiet.update(5);
  quiet.finish();
  t.deepEqual(written, []);
});

test('progress redraws at most every 100 ms, and always draws the final state', (t) => {
  let now = 0;
  const written: string[] = [];
  const bar = startProgress('n', 100, { output: { isTTY: true, write: (s: string) => written.push(s) }, env: {}, now: () => now });
  for (let done = 1; done <= 100; done++) {
    now += 5; // 100 updates over 500 ms
    bar.update(done);
  }
  bar.finish();
  t.true(written.length >= 5 && written.length <= 8, String(written.length));
  t.true(written.every((s, i) => (i === written.length - 1 ? s === '\n' : s.startsWith('\rn ['))));
  t.regex(written.at(-2)!, /100% 100\/100/);
});

test('describeFailure: one line with the gRPC status, signer-error-code, reason, field and request id', (t) => {
  const metadata = new Metadata();
  metadata.set('signer-error-code', 'POLICY_DENIED');
  metadata.set('signer-decision-reason', 'VALUE_CAP');
  metadata.set('signer-request-id', 'r-1');
  t.is(describeFailure({ code: status.PERMISSION_DENIED, details: 'value above max_value', metadata }), 'value above max_value [PERMISSION_DENIED POLICY_DENIED VALUE_CAP, request r-1]');
  const field = new Metadata();
  field.set('signer-error-code', 'INVALID_FIELD');
  field.set('signer-error-field', 'unsigned_transaction.chainId');
  t.is(describeFailure({ code: status.INVALID_ARGUMENT, details: '"chainId" must be\nnon-zero', metadata: field }), '"chainId" must be; non-zero [INVALID_ARGUMENT INVALID_FIELD, field unsigned_transaction.chainId]');
  t.regex(describeFailure({ code: status.UNAVAILABLE, details: 'No connection established. Resolution note: ', metadata: new Metadata() }), /^cannot reach the signer .*: No connection established \[UNAVAILABLE\]$/);
  t.is(describeFailure(new Error('plain')), 'plain');
});

test('signer ... | head: a reader that goes away ends the command quietly (no EPIPE stack trace)', (t) => {
  // `true` exits without reading, so every write after it is gone fails with EPIPE.
  const out = execFileSync('bash', ['-c', 'node "$1" completion bash | true; echo "status ${PIPESTATUS[0]}"', '_', join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.js')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  t.is(out, 'status 0\n');
});

test('completion bash: a valid script that completes subcommands, options and option choices', async (t) => {
  const generated = await runCli(['completion', 'bash']);
  t.is(generated.code, 0, generated.stderr);
  const dir = mkdtempSync(join(tmpdir(), 'completion-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'signer.bash'), generated.stdout);
  const complete = (...words: string[]) =>
    execFileSync('bash', ['-c', `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((\${#COMP_WORDS[@]}-1)); _signer_completion; echo "\${COMPREPLY[*]}"`, '_', join(dir, 'signer.bash'), ...words], {
      encoding: 'utf8',
    }).trim();
  t.is(complete('signer', 'ke'), 'keys');
  t.is(complete('signer', 'keys', ''), 'create list show disable enable rotate --help');
  t.is(complete('signer', 'keys', 'create', 'a/b', '--type', ''), 'secp256k1 ed25519 p256 rsa2048 rsa3072');
  t.is(complete('signer', 'keys', 'show', '--server', 'h:1', '--j'), '--json');
  t.is(complete('signer', 'completion', ''), 'bash zsh --help');
  const zsh = await runCli(['completion', 'zsh']);
  t.regex(zsh.stdout, /^autoload -U \+X bashcompinit && bashcompinit\n/);
  t.is((await runCli(['completion', 'fish'])).code, 1);
});
