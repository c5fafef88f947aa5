import { spawn } from 'node:child_process';
import test from 'ava';
import { childPids, cpuSeconds, groupCpuSeconds } from '../../bench/lib/proc-cpu.js';

/** A node process that uses `cpuMs` of CPU (not wall time: the machine may be busy), says "done", then idles. */
function burner(cpuMs: number, script = '') {
  const burn = `const s = process.cpuUsage().user; while (process.cpuUsage().user - s < ${cpuMs * 1000});`;
  const child = spawn(process.execPath, ['-e', `${script}${burn} console.log('done'); setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
  const done = new Promise<void>((resolve) => child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('done') && resolve()));
  return { child, done };
}

test('cpuSeconds reads what a process used, all of it user or system time', async (t) => {
  const { child, done } = burner(300);
  t.teardown(() => child.kill());
  await done;
  const used = cpuSeconds(child.pid!);
  t.true(used >= 0.3, `read ${used} s`);
  t.true(used < 5, `read ${used} s`);
});

test('cpuSeconds of a process that is gone is 0', (t) => {
  t.is(cpuSeconds(2 ** 22 + 1), 0);
});

test('a tree counts the CPU of children that already exited, and lists the live ones', async (t) => {
  // The parent runs a child that burns 400 ms and exits (reaped by execFileSync), then burns 10 ms itself.
  const grandchild = `require('node:child_process').execFileSync(process.execPath, ['-e', 'const s = process.cpuUsage().user; while (process.cpuUsage().user - s < 400000);']);`;
  const { child, done } = burner(10, grandchild);
  t.teardown(() => child.kill());
  await done;
  const own = cpuSeconds(child.pid!);
  const tree = groupCpuSeconds({ tree: child.pid! });
  t.true(tree - own >= 0.4, `tree ${tree} s, parent alone ${own} s`);
  t.deepEqual(childPids(child.pid!), []);
  t.true(childPids(process.pid).includes(child.pid!)); // the other test's process may be running too
});
