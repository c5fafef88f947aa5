/**
 * Policy scale: how much do 100,000 allowlisted addresses and a spend window with 1,000,000 past
 * reservations add to a sign request? Runs the real signing path in-process (SoftHSM, SQLite with
 * synchronous=FULL) against a small policy and a large one, in one run, and prints the ratio.
 *
 *   npm run build && node dist/bench/policy-scale.js [requests=4000] [concurrency=16]
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Transaction, getBytes } from 'ethers';
import { silentLogger } from '../src/api/json-logger.js';
import { AuditTrail } from '../src/audit/audit-trail.js';
import type { RequestContext } from '../src/domain/request-context.js';
import { DEV_PIN } from '../src/config.js';
import { ensureDevToken } from '../src/keystore/dev-token.js';
import { Hsm } from '../src/keystore/hsm.js';
import { ethereumTransactionScheme } from '../src/schemes/ethereum/schemes.js';
import { KeyService } from '../src/service/key-service.js';
import { PolicyGate } from '../src/service/policy-gate.js';
import { SigningService } from '../src/service/signing-service.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { writePolicies } from '../test/helpers/signer.js';

const REQUESTS = Number(process.argv[2] ?? 4000);
const CONCURRENCY = Number(process.argv[3] ?? 16);
const RECIPIENT = '0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed';
const PAST_RESERVATIONS = 1_000_000;
const ALLOWLIST = 100_000;

const policy = (allow: string[]) => `key: "bench/**"
ethereum_transactions:
  chain_ids: [1]
  recipients:
    allow:
${allow.map((a) => `      - "${a}"`).join('\n')}
  max_value: "1 ether"
  spend_windows: [{ per: 24h, max: "1000000000 ether" }]
`;

const fakeAddress = (i: number) => '0x' + i.toString(16).padStart(40, '0');

async function scenario(name: string, dir: string, hsm: Hsm, allow: string[], pastReservations: number) {
  const dbPath = join(dir, `${name}.db`);
  const store = new SqliteStore(dbPath);
  const keys = new KeyService(hsm, store, silentLogger);
  const key = await keys.create({ name: `bench/${name}`, type: 'secp256k1', labels: {} });
  if (pastReservations) {
    // Fill the window's history directly: a million reserve() calls with synchronous=FULL would take hours.
    const db = new Database(dbPath);
    const insert = db.prepare('INSERT INTO reservations (scope, at_ms, amount, cumulative, policy_hash) VALUES (?, ?, ?, ?, ?)');
    const start = Date.now() - 3_600_000;
    db.transaction(() => {
      for (let i = 0; i < pastReservations; i++) insert.run(`${key.name}|native|1`, start + Math.floor(i / 1000), '1', String(i + 1), 'bench');
    })();
    db.close();
  }
  const loadStarted = performance.now();
  const gate = new PolicyGate(writePolicies(join(dir, name), { 'p.yaml': policy(allow) }), store, silentLogger);
  // Distinct nonces: each request is a new transaction, as a relayer sends them.
  const loadMs = performance.now() - loadStarted;
  const audit = await AuditTrail.open(store, hsm, join(dir, `${name}-audit-key.jwk`), silentLogger);
  const signing = new SigningService(hsm, keys, gate, store, audit, silentLogger);
  const ctx = (): RequestContext => ({ requestId: randomUUID(), caller: 'bench', method: 'SignEthereumTransaction', startedAt: performance.now(), audited: false });
  const unsigned = (nonce: number) =>
    getBytes(Transaction.from({ type: 2, chainId: 1n, nonce, gasLimit: 21000n, maxFeePerGas: 1n, maxPriorityFeePerGas: 1n, to: RECIPIENT, value: 1n }).unsignedSerialized);
  const requests = Array.from({ length: REQUESTS }, (_, i) => unsigned(i));

  // Policy and reservation alone (the part this benchmark is about), then the whole path.
  const gateStarted = performance.now();
  for (let i = 0; i < 2000; i++) signing.explain(ctx(), ethereumTransactionScheme, key.name, { unsignedTransaction: requests[i % REQUESTS]! });
  const explainUs = ((performance.now() - gateStarted) / 2000) * 1000;

  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < REQUESTS) await signing.sign(ctx(), ethereumTransactionScheme, key.name, { unsignedTransaction: requests[next++]! });
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await store.close();
  return { name, allow: allow.length, pastReservations, loadMs, explainUs, perSecond: REQUESTS / seconds };
}

const dir = mkdtempSync(join(tmpdir(), 'bench-policy-'));
try {
  ensureDevToken(join(dir, 'softhsm'), 'bench', DEV_PIN);
  const hsm = Hsm.open({ modulePath: '/usr/lib/softhsm/libsofthsm2.so', tokenLabel: 'bench', pin: DEV_PIN, sessions: 4 });
  const small = await scenario('small', dir, hsm, [RECIPIENT], 0);
  const large = await scenario('large', dir, hsm, [...Array.from({ length: ALLOWLIST - 1 }, (_, i) => fakeAddress(i + 1)), RECIPIENT], PAST_RESERVATIONS);
  hsm.close();
  console.log(`policy scale: ${REQUESTS} SignEthereumTransaction (EIP-1559) in-process, concurrency ${CONCURRENCY}, 4 HSM sessions`);
  console.log(`machine: ${cpus().length} cores (${cpus()[0]?.model}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB, node ${process.version}`);
  console.log('scenario | allowlist | past reservations | policy load ms | decide (no reserve) µs | signs/s');
  for (const r of [small, large]) {
    console.log(`${r.name} | ${r.allow} | ${r.pastReservations} | ${r.loadMs.toFixed(0)} | ${r.explainUs.toFixed(1)} | ${r.perSecond.toFixed(0)}`);
  }
  const cost = 1 - large.perSecond / small.perSecond;
  console.log(`throughput cost of the large policy: ${(cost * 100).toFixed(1)}% (target: at most 10%)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
