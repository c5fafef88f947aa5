import test from 'ava';
import fc from 'fast-check';
import { describeOutcomes, rpcProperties, startRpcEnv, type RpcEnv } from '../../fuzz/properties/rpc.js';

// A sample of the gRPC properties `npm run fuzz` runs at length, against one real service.
const SAMPLE_RUNS = 25;

let env: RpcEnv | undefined;
test.before(async () => {
  env = await startRpcEnv();
});
test.after.always(async () => env?.stop());

for (const [name, property] of Object.entries(rpcProperties(() => env!))) {
  test.serial(name, async (t) => {
    await fc.assert(property, { numRuns: SAMPLE_RUNS, includeErrorInReport: true });
    t.log(describeOutcomes(name));
    t.pass();
  });
}
