/**
 * What one sign request costs PostgreSQL in statements and socket writes (issue 14): the real service
 * in this process on a real PostgreSQL with pg_stat_statements, `SignEthereumTransaction` sent one at a
 * time and 32 at once. Statements are counted by the server (pg_stat_statements, utility statements
 * such as BEGIN and COMMIT included); socket writes by wrapping `net.Socket.prototype.write` for the
 * Unix-socket connections to PostgreSQL. Prints a Markdown table; asserts nothing.
 *
 *   npm run build && node dist/bench/pg-round-trips.js
 */
import net from 'node:net';
import { Transaction, getBytes } from 'ethers';
import { startPostgres } from '../test/helpers/postgres.js';
import { startTestSigner } from '../test/helpers/signer.js';
import { BENCH_POLICIES } from './lib/requests.js';

const CONCURRENT = 32;

const postgres = await startPostgres({ settings: ['shared_preload_libraries=pg_stat_statements', 'pg_stat_statements.track=all'] });
const url = await postgres.createDatabase();
const database = new URL(url).pathname.slice(1);
await postgres.psql(database, 'CREATE EXTENSION pg_stat_statements');
// The benchmarks' policy: a 1,000-address allowlist, a value cap and a 24-hour spend window.
const signer = await startTestSigner({ database: url }, BENCH_POLICIES);

let writes = 0;
const write = net.Socket.prototype.write;
net.Socket.prototype.write = function (this: net.Socket, ...args: Parameters<typeof write>) {
  // PostgreSQL's Unix socket has no remote address; gRPC's loopback TCP does.
  if (this.remoteAddress === undefined && this !== (process.stdout as unknown) && this !== (process.stderr as unknown)) writes++;
  return write.apply(this, args);
} as typeof write;

await signer.call('CreateKey', { name: 'bench/eth', type: 'KEY_TYPE_SECP256K1' });
let nonce = 0;
const sign = () =>
  signer.call('SignEthereumTransaction', {
    keyName: 'bench/eth',
    requestId: `r${nonce}`,
    unsignedTransaction: getBytes(
      Transaction.from({ type: 2, chainId: 1, nonce: nonce++, gasLimit: 21000n, maxFeePerGas: 1n, maxPriorityFeePerGas: 1n, to: '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed', value: 1n })
        .unsignedSerialized,
    ),
  });
const burst = () => Promise.all(Array.from({ length: CONCURRENT }, sign));

/** Statements the service ran since the last reset (this script's own queries left out). */
const statements = async () => Number(await postgres.psql(database, "SELECT COALESCE(sum(calls), 0) FROM pg_stat_statements WHERE query NOT ILIKE '%pg_stat_statements%'"));
const measure = async (requests: number, run: () => Promise<unknown>) => {
  await postgres.psql(database, 'SELECT pg_stat_statements_reset()');
  writes = 0;
  await run();
  const written = writes;
  return { statements: (await statements()) / requests, writes: written / requests };
};

// Warm-up: each connection of the pool prepares a statement the first time it runs it (a write of its own).
for (let i = 0; i < 5; i++) await burst();
for (let i = 0; i < 20; i++) await sign();
const SEQUENTIAL = 20;
const one = await measure(SEQUENTIAL, async () => {
  for (let i = 0; i < SEQUENTIAL; i++) await sign();
});
const many = await measure(CONCURRENT, burst);
console.log(`# PostgreSQL statements and socket writes per SignEthereumTransaction (issue 14)\n`);
console.log('| load | statements per request | socket writes per request |\n| --- | ---: | ---: |');
console.log(`| one at a time | ${one.statements.toFixed(1)} | ${one.writes.toFixed(1)} |`);
console.log(`| ${CONCURRENT} at once | ${many.statements.toFixed(1)} | ${many.writes.toFixed(1)} |`);
net.Socket.prototype.write = write;
await signer.stop();
await postgres.stop();
