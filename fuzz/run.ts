import fc from 'fast-check';
import { DECODERS } from './properties/index.js';
import { describeOutcomes, rpcProperties, startRpcEnv, type RpcEnv } from './properties/rpc.js';

/**
 * `npm run fuzz`: every decoder property, 100,000 cases each (`--runs N`), then every gRPC property
 * against a real service on a fresh SoftHSM token, 5,000 cases each (`--rpc-runs N`, 0 to skip).
 * `--only TEXT` keeps the properties whose group or name contains TEXT; `--seed S` replays a run.
 * Prints cases, time and slowest case per property, and each counterexample; exits 1 on a failure.
 */
const args = process.argv.slice(2);
const option = (name: string) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
};
const runs = Number(option('--runs') ?? 100_000);
const rpcRuns = Number(option('--rpc-runs') ?? 5_000);
const only = option('--only');
const seed = option('--seed') === undefined ? Date.now() ^ (Math.random() * 0x100000000) : Number(option('--seed'));

let env: RpcEnv | undefined;
const groups = [
  ...DECODERS.map(({ decoder, properties }) => ({ group: decoder, properties, numRuns: runs })),
  { group: 'gRPC signing RPCs', properties: rpcProperties(() => env!), numRuns: rpcRuns },
];

let failures = 0;
let total = 0;
const started = performance.now();
const seconds = (since: number) => ((performance.now() - since) / 1000).toFixed(1);
console.log(`fuzzing with seed ${seed}: ${runs} cases per decoder property, ${rpcRuns} per gRPC property`);
for (const { group, properties, numRuns } of groups) {
  const selected = Object.entries(properties).filter(([name]) => numRuns > 0 && (!only || `${group}: ${name}`.includes(only)));
  if (selected.length === 0) continue;
  if (group.startsWith('gRPC')) env ??= await startRpcEnv();
  let cases = 0;
  const groupStarted = performance.now();
  for (const [name, property] of selected) {
    // The slowest case shows a decoder that got slow (e.g. quadratic) without failing.
    let slowest = 0;
    let caseStarted = 0;
    // Sync and async properties take the same synchronous hooks.
    const timed = (property as fc.IPropertyWithHooks<unknown>)
      .beforeEach((previous) => {
        previous();
        caseStarted = performance.now();
      })
      .afterEach((previous) => {
        slowest = Math.max(slowest, performance.now() - caseStarted);
        previous();
      });
    const propertyStarted = performance.now();
    const details = await fc.check(timed, { numRuns, seed });
    cases += details.numRuns;
    const figures = `${details.numRuns} cases in ${seconds(propertyStarted)}s, slowest ${slowest.toFixed(0)} ms`;
    const outcomes = group.startsWith('gRPC') ? `; ${describeOutcomes(name)}` : '';
    console.log(`  ${details.failed ? 'FAIL' : 'ok  '} ${group}: ${name}: ${figures}${outcomes}`);
    if (details.failed) {
      failures++;
      console.log(`       ${(details.errorInstance as Error | undefined)?.message ?? details.errorInstance}`);
      console.log(fc.defaultReportMessage(details)?.replace(/^/gm, '       '));
    }
  }
  console.log(`${group}: ${cases} cases in ${seconds(groupStarted)}s`);
  total += cases;
}
await env?.stop();
console.log(`${total} cases, ${failures} failing properties, ${seconds(started)}s`);
process.exitCode = failures ? 1 : 0;
