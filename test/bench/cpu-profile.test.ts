import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { monotonicMicros, summarizeProfile, type CpuProfile } from '../../bench/lib/cpu-profile.js';

/** A real profile from `node --cpu-prof` of a script that spends 300 ms of CPU in `burnForTheProfile`. */
function profileOfBurner(): { profile: CpuProfile; from: number; to: number } {
  const dir = mkdtempSync(join(tmpdir(), 'cpu-profile-test-'));
  try {
    // Most of the time in plain arithmetic (its own), checking the CPU clock (a native call) now and then.
    const script =
      'function burnForTheProfile() { const s = process.cpuUsage().user; let x = 0; while (process.cpuUsage().user - s < 300000) for (let i = 0; i < 1e6; i++) x = (x * 31 + i) % 1000003; return x; } burnForTheProfile();';
    const from = monotonicMicros();
    execFileSync(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, '-e', script]);
    const to = monotonicMicros();
    const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'))!;
    return { profile: JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile, from, to };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('the function that burned the CPU tops the self-time list, with most of the busy time', (t) => {
  const { profile } = profileOfBurner();
  const summary = summarizeProfile(profile);
  const [first] = summary.functions;
  t.true(first!.name.startsWith('burnForTheProfile'), first!.name);
  t.true(first!.share > 0.5, `share ${first!.share}`);
  t.true(summary.busyMs >= 250, `busy ${summary.busyMs} ms`);
  const shares = summary.functions.reduce((sum, f) => sum + f.share, 0);
  t.true(shares <= 1.000001, `shares add up to ${shares}`);
});

test('a window selects samples on the profile clock: the run inside it, nothing outside it', (t) => {
  const { profile, from, to } = profileOfBurner();
  t.true(summarizeProfile(profile, { from, to }).busyMs >= 250);
  t.is(summarizeProfile(profile, { from: to + 1, to: to + 1_000_000 }).busyMs, 0);
});
