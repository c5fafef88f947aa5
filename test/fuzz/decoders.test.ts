import test from 'ava';
import fc from 'fast-check';
import { DECODERS } from '../../fuzz/properties/index.js';

// A sample of the properties `npm run fuzz` runs 100,000 times each: the same definitions, fewer cases.
const SAMPLE_RUNS = 150;

for (const { decoder, properties } of DECODERS) {
  for (const [name, property] of Object.entries(properties)) {
    test(`${decoder}: ${name}`, async (t) => {
      await fc.assert(property, { numRuns: SAMPLE_RUNS, includeErrorInReport: true });
      t.pass();
    });
  }
}
