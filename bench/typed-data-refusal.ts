/**
 * Typed-data refusal cost (issue 13 item 13): how long the 64 types x 100 members mutually referencing
 * request (248 KB) holds the event loop before it is refused, in the decoder alone and through a real
 * service over gRPC, for a key whose policy enables typed data and for one whose policy does not.
 * Prints figures; asserts nothing (the target is under 10 ms).
 *
 *   npm run build && node dist/bench/typed-data-refusal.js [runs=50]
 */
import { decodeTypedData } from '../src/schemes/ethereum/eip712.js';
import { startTestSigner } from '../test/helpers/signer.js';
import { mutuallyReferencingTypedData } from '../test/helpers/typed-data-blowup.js';

const RUNS = Number(process.argv[2] ?? 50);
const json = mutuallyReferencingTypedData();

function refusalMs(refuse: () => void): number {
  const started = performance.now();
  try {
    refuse();
  } catch {
    return performance.now() - started;
  }
  throw new Error('the request was not refused');
}

async function refusalMsAsync(refuse: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  try {
    await refuse();
  } catch {
    return performance.now() - started;
  }
  throw new Error('the request was not refused');
}

function summary(samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(2);
  return `first ${samples[0]!.toFixed(2)} ms, median ${at(0.5)} ms, p90 ${at(0.9)} ms, max ${sorted.at(-1)!.toFixed(2)} ms`;
}

const POLICIES = {
  'typed.yaml': 'key: "bench/typed"\ntyped_data:\n  domains: [{}]\n  primary_types: [Type0]\n',
  'transactions.yaml': 'key: "bench/transactions"\nethereum_transactions:\n  chain_ids: [1]\n  recipients: { allow: any }\n  max_value: \"1 ether\"\n',
};

async function main(): Promise<void> {
  console.log(`request: ${Buffer.byteLength(json).toLocaleString('en')} bytes of typed data, 64 types x 100 members, mutually referencing`);
  const decoder = Array.from({ length: RUNS }, () => refusalMs(() => decodeTypedData(json)));
  console.log(`decoder (event loop):                     ${summary(decoder)}`);
  // The floor: the bounds are checked on JSON.parse's result, so refusing costs about one parse.
  const parse = Array.from({ length: RUNS }, () => {
    const started = performance.now();
    JSON.parse(json);
    return performance.now() - started;
  });
  console.log(`JSON.parse alone (the floor):             ${summary(parse)}`);

  const service = await startTestSigner({}, POLICIES);
  try {
    for (const name of ['bench/typed', 'bench/transactions']) await service.call('CreateKey', { name, type: 'KEY_TYPE_SECP256K1' });
    for (const [label, keyName] of [
      ['typed data enabled, over gRPC', 'bench/typed'],
      ['typed data not enabled, over gRPC', 'bench/transactions'],
    ] as const) {
      const samples: number[] = [];
      for (let i = 0; i < RUNS; i++) samples.push(await refusalMsAsync(() => service.call('SignTypedData', { keyName, typedDataJson: json })));
      console.log(`${`${label}:`.padEnd(42)}${summary(samples)}`);
    }
  } finally {
    await service.stop();
  }
}

await main();
