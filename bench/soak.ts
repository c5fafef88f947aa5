/**
 * The soak test (issue 8): hundreds of thousands of mixed requests (valid, denied, malformed,
 * approval-required, other key types) from several client processes against the real service, then
 * checks what it kept: exactly one audit record per request, an intact audit chain, a spend window
 * that held exactly, flat memory, and no CKR_OPERATION_ACTIVE in the log. Exits 1 if a check fails.
 *
 *   npm run soak                 # 200,000 requests
 *   SOAK_REQUESTS=20000 npm run soak
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ed25519 } from '@noble/curves/ed25519.js';
import { writePolicies } from '../test/helpers/signer.js';
import type { LoadJob } from './load-client.js';
import { runLoadClient } from './lib/load.js';
import { BENCH_KEYS, BENCH_POLICIES } from './lib/requests.js';
import { rssBytes, startService } from './lib/service.js';
import { rate, table } from './lib/stats.js';

const REQUESTS = Number(process.env.SOAK_REQUESTS ?? 200_000);
const CLIENTS = Number(process.env.SOAK_CLIENTS ?? 3);
const IN_FLIGHT_PER_CLIENT = 16;
// Six in ten requests are valid 1-wei transfers; the window lets through fewer than that, so it binds.
const WINDOW_WEI = Math.floor(REQUESTS * 0.5);
const CLI = join(import.meta.dirname, '..', 'src', 'cli', 'main.js');

const policies = {
  ...BENCH_POLICIES,
  'eth.yaml': `key: "bench/eth"
ethereum_transactions:
  chain_ids: [1]
  recipients: { allow: ["0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"] }
  max_value: "1 ether"
  spend_windows: [{ per: 24h, max: "${WINDOW_WEI} wei" }]
approvals:
  - name: above-10-wei
    native_value_above: "10 wei"
    quorum: [{ group: soak, count: 1 }]
`,
  'approvers.yaml': `approvers:\n  - { id: soak, public_key: "${Buffer.from(ed25519.getPublicKey(ed25519.utils.randomSecretKey())).toString('hex')}", groups: [soak] }\n`,
};

const dir = mkdtempSync(join(tmpdir(), 'soak-'));
const failures: string[] = [];
const check = (ok: boolean, what: string) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'}  ${what}`);
  if (!ok) failures.push(what);
};
try {
  const service = await startService(dir, writePolicies(dir, policies), 4, { watchStderr: /CKR_OPERATION_ACTIVE/ });
  await service.call('CreateKey', BENCH_KEYS.SignEthereumTransaction.create.request);
  await service.call('CreateKey', BENCH_KEYS.SignBytes.create.request);
  const database = new Database(join(dir, 'signer.db'), { readonly: true });
  const auditCount = () => (database.prepare("SELECT COUNT(*) AS n FROM audit_log WHERE method IN ('SignEthereumTransaction', 'SignBytes')").get() as { n: number }).n;
  const before = auditCount();

  const rss: number[] = [];
  const sampler = setInterval(() => rss.push(rssBytes(service.child.pid!)), 2000);
  const started = performance.now();
  const results = await Promise.all(
    Array.from({ length: CLIENTS }, (_, i) => {
      const job: LoadJob = {
        port: service.port,
        rpc: 'Mixed',
        inFlight: IN_FLIGHT_PER_CLIENT,
        seconds: 0,
        calls: Math.ceil(REQUESTS / CLIENTS),
        warmupCalls: 0,
        // Sequences decide the mix (sequence % 10): every client starts on a multiple of 10.
        sequenceStart: 1 + i * 100_000_000,
      };
      return runLoadClient(job);
    }),
  );
  clearInterval(sampler);
  const seconds = (performance.now() - started) / 1000;

  const outcomes: Record<string, Record<string, number>> = {};
  for (const result of results) {
    for (const [label, byCode] of Object.entries(result.outcomes)) {
      for (const [code, n] of Object.entries(byCode)) (outcomes[label] ??= {})[code] = ((outcomes[label] ??= {})[code] ?? 0) + n;
    }
  }
  const sent = Object.values(outcomes).reduce((sum, byCode) => sum + Object.values(byCode).reduce((a, b) => a + b, 0), 0);
  console.log(`soak: ${rate(sent)} requests from ${CLIENTS} client processes (${IN_FLIGHT_PER_CLIENT} in flight each) in ${seconds.toFixed(0)} s, ${rate(sent / seconds)}/s`);
  console.log(`machine: ${cpus().length} cores, Node ${process.version}\n`);
  console.log(table(['part', 'outcomes'], Object.entries(outcomes).map(([label, byCode]) => [label, Object.entries(byCode).map(([c, n]) => `${c} ${rate(n)}`).join(', ')])) + '\n');

  await service.stop();
  const allowed = (database.prepare("SELECT COUNT(*) AS n FROM audit_log WHERE method = 'SignEthereumTransaction' AND decision = 'allow'").get() as { n: number }).n;
  check(auditCount() - before === sent, `one audit record per request: ${rate(auditCount() - before)} records for ${rate(sent)} requests`);
  check(allowed === WINDOW_WEI, `the ${rate(WINDOW_WEI)}-wei window held exactly: ${rate(allowed)} one-wei transfers signed`);
  check((outcomes.valid?.OK ?? 0) === WINDOW_WEI, `clients received exactly as many signatures as the window allows (${rate(outcomes.valid?.OK ?? 0)})`);
  check(!Object.values(outcomes).some((byCode) => byCode.INTERNAL), 'no INTERNAL errors');
  check(service.stderrMatches() === 0, `no CKR_OPERATION_ACTIVE in the log (${service.stderrMatches()})`);
  if (rss.length < 4) {
    console.log(`skip  RSS: the run was too short for a trend (${rss.length} samples, one every 2 s)`);
  } else {
    const quarter = Math.floor(rss.length / 4);
    const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
    const early = mean(rss.slice(quarter, 2 * quarter));
    const late = mean(rss.slice(-quarter));
    check(late <= early * 1.1, `RSS flat: ${(early / 2 ** 20).toFixed(0)} MiB in the second quarter, ${(late / 2 ** 20).toFixed(0)} MiB in the last`);
  }
  database.close();
  const verify = execFileSync(process.execPath, [CLI, 'audit', 'verify', '--database', join(dir, 'signer.db')], { encoding: 'utf8' });
  check(/audit log intact/.test(verify), `audit verify: ${verify.trim()}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
if (failures.length) {
  console.log(`\n${failures.length} check(s) failed`);
  process.exitCode = 1;
}
