import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import test from 'ava';
import { Faults, FAULTS_ENV, parseFaults } from '../../src/testing/faults.js';

const FAULTS_MODULE = pathToFileURL(join(import.meta.dirname, '..', '..', 'src', 'testing', 'faults.js')).href;

test('parses a delay and a crash point', (t) => {
  t.deepEqual(parseFaults('hsm-delay-ms=500,crash=after-reservation'), { hsmDelayMs: 500, crashAt: 'after-reservation' });
  t.deepEqual(parseFaults(' hsm-delay-ms=0 , '), { hsmDelayMs: 0 });
});

for (const [spec, message] of [
  ['hsm-delay=5', /unknown fault "hsm-delay"/],
  ['hsm-delay-ms=-1', /hsm-delay-ms must be an integer/],
  ['hsm-delay-ms=1.5', /hsm-delay-ms must be an integer/],
  ['crash=before-anything', /crash must be one of after-reservation, after-hsm-sign, after-record/],
  ['crash', /"crash" is not name=value/],
] as const) {
  test(`refuses ${spec}`, (t) => {
    t.throws(() => parseFaults(spec), { message });
  });
}

test('unset, every fault is a no-op and nothing is announced', (t) => {
  const none = new Faults(undefined);
  t.false(none.active);
  t.is(none.hsmDelayMs(), 0);
  none.crashPoint('after-reservation'); // would kill this test process if it were not a no-op
  const warnings: string[] = [];
  t.is(
    none.announce((message) => warnings.push(message)),
    undefined,
  );
  t.deepEqual(warnings, []);
});

test('set, it is announced loudly; invalid, start-up is refused', (t) => {
  const warnings: string[] = [];
  const warning = new Faults('hsm-delay-ms=10').announce((message) => warnings.push(message));
  t.regex(warning!, /SIGNER_TEST_FAULTS is set: TEST FAULT INJECTION IS ACTIVE \(hsm-delay-ms=10\)\. For tests only/);
  t.deepEqual(warnings, [warning]);
  t.throws(() => new Faults('crash=nowhere').announce(() => {}), { message: /crash must be one of/ });
});

test('a crash point named in the environment kills the process with SIGKILL; other points pass', (t) => {
  const script = `
    import { faults } from ${JSON.stringify(FAULTS_MODULE)};
    faults.crashPoint('after-reservation');
    console.log('passed after-reservation');
    faults.crashPoint('after-hsm-sign');
    console.log('passed after-hsm-sign');`;
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, [FAULTS_ENV]: 'crash=after-hsm-sign' },
    encoding: 'utf8',
    timeout: 30_000,
  });
  t.is(result.signal, 'SIGKILL');
  t.is(result.stdout, 'passed after-reservation\n');
});
