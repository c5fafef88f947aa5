import fc from 'fast-check';
import { DECODERS } from './properties/index.js';

/**
 * `npm run fuzz`: every decoder property, 100,000 cases each unless `--runs N`; `--only TEXT` keeps
 * the properties whose decoder or name contains TEXT; `--seed S` replays a run. Prints cases and
 * time per property and the counterexample of each failure; exits 1 if any property failed.
 */
const args = process.argv.slice(2);
const option = (name: string) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
};
const runs = Number(option('--runs') ?? 100_000);
const only = option('--only');
const seed = option('--seed') === undefined ? Date.now() ^ (Math.random() * 0x100000000) : Number(option('--seed'));

let failures = 0;
let total = 0;
const started = performance.now();
console.log(`fuzzing with seed ${seed}, ${runs} cases per property`);
for (const { decoder, properties } of DECODERS) {
  let cases = 0;
  const decoderStarted = performance.now();
  for (const [name, property] of Object.entries(properties)) {
    if (only && !`${decoder}: ${name}`.includes(only)) continue;
    const t0 = performance.now();
    const details = await fc.check(property, { numRuns: runs, seed });
    const seconds = ((performance.now() - t0) / 1000).toFixed(1);
    cases += details.numRuns;
    console.log(`  ${details.failed ? 'FAIL' : 'ok  '} ${decoder}: ${name}: ${details.numRuns} cases in ${seconds}s`);
    if (details.failed) {
      failures++;
      console.log(`       ${(details.errorInstance as Error | undefined)?.message ?? details.errorInstance}`);
      console.log(fc.defaultReportMessage(details)?.replace(/^/gm, '       '));
    }
  }
  if (cases) console.log(`${decoder}: ${cases} cases in ${((performance.now() - decoderStarted) / 1000).toFixed(1)}s`);
  total += cases;
}
console.log(`${total} cases, ${failures} failing properties, ${((performance.now() - started) / 1000).toFixed(1)}s`);
process.exitCode = failures ? 1 : 0;
