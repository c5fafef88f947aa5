import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { Interface, Transaction, getBytes, parseEther } from 'ethers';
import type { JwtKey__Output } from '../../src/api/generated/signer/v1/JwtKey.js';
import { PERMISSIVE_POLICY, rpcFailure, startTestSigner, writePolicies, type TestSigner } from '../helpers/signer.js';
import { exitCode, startMain } from '../helpers/main-process.js';
import { ROOT, documentationFiles } from '../helpers/markdown.js';
import { scrape, seriesOf, valueOf, type Sample } from '../helpers/prometheus.js';

const FRIEND = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed';
const USDC = '0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48';
const POLICY = `
key: "m/**"
tokens:
  - { symbol: USDC, address: "${USDC}", decimals: 6, max_amount: "500 USDC", spend_windows: [{ per: 1h, max: "1000 USDC" }] }
ethereum_transactions:
  chain_ids: [1, 10]
  recipients: { allow: any }
  max_value: "10 ether"
  spend_windows: [{ per: 1h, max: "5 ether" }]
personal_messages: { max_length: 1024, allow_32_byte_messages: false }
rate_limits: [{ per: 1m, max: 100 }]
approvals:
  - { name: big, native_value_above: "2 ether", quorum: [{ group: treasury, count: 1 }], expires_after: 10m }
`;
const JWT_POLICY = `
key: "jwt/**"
jwt: { max_ttl: 1h }
`;
const APPROVERS = `
approvers:
  - { id: alice, public_key: "${'11'.repeat(32)}", groups: [treasury] }
`;

const clock = { now: Date.now() };
let s: TestSigner;
test.before(async () => {
  s = await startTestSigner({ sessions: 3 }, { 'm.yaml': POLICY, 'jwt.yaml': JWT_POLICY, 'approvers.yaml': APPROVERS }, () => clock.now);
  await s.call('CreateKey', { name: 'm/hot', type: 'KEY_TYPE_SECP256K1' });
});
test.after.always(async () => s?.stop());

const metricsUrl = () => s.signer.metrics!.url;
let nonce = 0;
const tx = (value: bigint, extra: { chainId?: bigint; to?: string; data?: string } = {}) =>
  getBytes(
    Transaction.from({ type: 2, chainId: 1n, nonce: nonce++, gasLimit: 60000n, maxFeePerGas: 1n, maxPriorityFeePerGas: 1n, to: FRIEND, value, ...extra })
      .unsignedSerialized,
  );
const message = (text: string, requestId = '') => ({ keyName: 'm/hot', message: Buffer.from(text), requestId });
const requests = (samples: Sample[], labels: Record<string, string>) => valueOf(samples, 'signer_requests_total', labels) ?? 0;

test.serial('sign requests are counted by method, inventory key, audit decision and gRPC status', async (t) => {
  const before = await scrape(metricsUrl());
  await s.call('SignPersonalMessage', message('one'));
  await s.call('SignPersonalMessage', message('two', 'retry-1'));
  await s.call('SignPersonalMessage', message('two', 'retry-1')); // an idempotent retry: replay
  t.is((await rpcFailure(s.call('SignEthereumTransaction', { keyName: 'm/hot', unsignedTransaction: tx(parseEther('11')) }))).errorCode, 'POLICY_DENIED');
  t.is((await rpcFailure(s.call('SignPersonalMessage', { ...message('x'), keyName: 'm/nope' }))).errorCode, 'KEY_NOT_FOUND');
  t.is((await rpcFailure(s.call('SignPersonalMessage', { ...message('x'), keyName: 'Not A Key' }))).errorCode, 'INVALID_FIELD');
  const parked = await s.call<{ pendingRequestId: string }>('SignEthereumTransaction', { keyName: 'm/hot', unsignedTransaction: tx(parseEther('3')) });
  t.truthy(parked.pendingRequestId);
  const after = await scrape(metricsUrl());

  const delta = (labels: Record<string, string>) => requests(after, labels) - requests(before, labels);
  t.is(delta({ method: 'SignPersonalMessage', key: 'm/hot', decision: 'allow', code: 'OK' }), 2);
  t.is(delta({ method: 'SignPersonalMessage', key: 'm/hot', decision: 'replay', code: 'OK' }), 1);
  t.is(delta({ method: 'SignEthereumTransaction', key: 'm/hot', decision: 'deny', code: 'PERMISSION_DENIED' }), 1);
  t.is(delta({ method: 'SignEthereumTransaction', key: 'm/hot', decision: 'approval_required', code: 'OK' }), 1);
  // Names callers make up never become label values.
  t.is(delta({ method: 'SignPersonalMessage', key: '', decision: 'error', code: 'NOT_FOUND' }), 1);
  t.is(delta({ method: 'SignPersonalMessage', key: '', decision: 'error', code: 'INVALID_ARGUMENT' }), 1);
  const keys = new Set(seriesOf(after, 'signer_requests_total').map((sample) => sample.labels.key));
  t.false(keys.has('m/nope'));
  t.false(keys.has('Not A Key'));

  // Latency: every unary call is timed, and the buckets add up to the count.
  const count = (samples: Sample[]) => valueOf(samples, 'signer_request_duration_seconds_count', { method: 'SignPersonalMessage' }) ?? 0;
  t.is(count(after) - count(before), 5);
  t.is(valueOf(after, 'signer_request_duration_seconds_bucket', { method: 'SignPersonalMessage', le: '+Inf' }), count(after));
  t.true(valueOf(after, 'signer_request_duration_seconds_sum', { method: 'SignPersonalMessage' })! > 0);

  // Two signatures reached the HSM (the replay and the refusals did not).
  const hsm = (samples: Sample[]) => valueOf(samples, 'signer_hsm_sign_duration_seconds_count', { mechanism: 'ecdsa-digest' }) ?? 0;
  t.is(hsm(after) - hsm(before), 2);
  t.true(valueOf(after, 'signer_hsm_sign_duration_seconds_sum', { mechanism: 'ecdsa-digest' })! > 0);

  // Each signature's record committed durably: at least one synced group commit per signature.
  const commits = (samples: Sample[], part: string) => valueOf(samples, 'signer_store_commit_duration_seconds_count', { part }) ?? 0;
  t.true(commits(after, 'sync') - commits(before, 'sync') >= 2);
  t.true(commits(after, 'transaction') - commits(before, 'transaction') >= commits(after, 'sync') - commits(before, 'sync'));
  t.is(valueOf(after, 'signer_store_commit_batch_size_count', {}), commits(after, 'transaction'));
});

test.serial('reads count as ok, RPCs that name no key have an empty key label', async (t) => {
  const before = await scrape(metricsUrl());
  await s.call('GetKey', { name: 'm/hot' });
  await s.call('ListKeys', {});
  const after = await scrape(metricsUrl());
  t.is(requests(after, { method: 'GetKey', key: 'm/hot', decision: 'ok', code: 'OK' }) - requests(before, { method: 'GetKey', key: 'm/hot', decision: 'ok', code: 'OK' }), 1);
  t.is(requests(after, { method: 'ListKeys', key: '', decision: 'ok', code: 'OK' }) - requests(before, { method: 'ListKeys', key: '', decision: 'ok', code: 'OK' }), 1);
});

test.serial('spend windows and rate limits: used and limit per key, asset and chain, from the ledger', async (t) => {
  await s.call('CreateKey', { name: 'm/spender', type: 'KEY_TYPE_SECP256K1' });
  const transfer = new Interface(['function transfer(address,uint256)']).encodeFunctionData('transfer', [FRIEND, 250_000_000n]);
  await s.call('SignEthereumTransaction', { keyName: 'm/spender', unsignedTransaction: tx(parseEther('1.5')) });
  await s.call('SignEthereumTransaction', { keyName: 'm/spender', unsignedTransaction: tx(0n, { to: USDC, data: transfer }) });
  await s.call('SignEthereumTransaction', { keyName: 'm/spender', unsignedTransaction: tx(parseEther('0.25'), { chainId: 10n }) });
  const samples = await scrape(metricsUrl());

  const native = (chain: string) => ({ key: 'm/spender', asset: 'native', chain, window: 'ethereum_transactions.spend_windows[0]', per: '1h' });
  t.is(valueOf(samples, 'signer_spend_window_used', native('1')), 1.5);
  t.is(valueOf(samples, 'signer_spend_window_limit', native('1')), 5);
  t.is(valueOf(samples, 'signer_spend_window_used', native('10')), 0.25);
  const usdc = { key: 'm/spender', asset: 'USDC', chain: '1', window: 'tokens.0.spend_windows[0]', per: '1h' };
  t.is(valueOf(samples, 'signer_spend_window_used', usdc), 250);
  t.is(valueOf(samples, 'signer_spend_window_limit', usdc), 1000);
  const signatures = { key: 'm/spender', asset: 'signatures', chain: '', window: 'rate_limits[0]', per: '1m' };
  t.is(valueOf(samples, 'signer_spend_window_used', signatures), 3);
  t.is(valueOf(samples, 'signer_spend_window_limit', signatures), 100);

  // A window is rolling: an hour later nothing counts any more.
  clock.now += 3_600_000;
  try {
    const later = await scrape(metricsUrl());
    t.is(valueOf(later, 'signer_spend_window_used', native('1')), 0);
    t.is(valueOf(later, 'signer_spend_window_used', usdc), 0);
  } finally {
    clock.now -= 3_600_000;
  }
});

test.serial('parked requests: pending until they expire; HSM session pool gauges', async (t) => {
  const pending = (samples: Sample[]) => valueOf(samples, 'signer_pending_requests', { status: 'pending' });
  const before = pending(await scrape(metricsUrl()))!;
  await s.call('SignEthereumTransaction', { keyName: 'm/hot', unsignedTransaction: tx(parseEther('4')) });
  await s.call('SignEthereumTransaction', { keyName: 'm/hot', unsignedTransaction: tx(parseEther('5')) });
  const samples = await scrape(metricsUrl());
  t.is(pending(samples), before + 2);
  t.is(valueOf(samples, 'signer_pending_requests', { status: 'approved' }), 0);

  // Every request parked so far expires after 10 minutes.
  clock.now += 11 * 60_000;
  try {
    t.is(pending(await scrape(metricsUrl())), 0);
  } finally {
    clock.now -= 11 * 60_000;
  }

  t.is(valueOf(samples, 'signer_hsm_sessions'), 3);
  t.is(valueOf(samples, 'signer_hsm_sessions_busy'), 0);
  t.is(valueOf(samples, 'signer_hsm_session_waiters'), 0);
});

test.serial('JWT key versions by state', async (t) => {
  const created = await s.call<JwtKey__Output>('CreateJwtKey', { name: 'jwt/a', algorithm: 'JWT_ALGORITHM_ES256', publishAhead: '10m' });
  const states = (samples: Sample[]) =>
    Object.fromEntries(['published', 'active', 'retiring', 'retired'].map((state) => [state, valueOf(samples, 'signer_jwt_key_versions', { key: 'jwt/a', state })]));
  // A new key's first version signs at once.
  t.deepEqual(created.versions.map((v) => v.state), ['active']);
  t.deepEqual(states(await scrape(metricsUrl())), { published: 0, active: 1, retiring: 0, retired: 0 });

  const rotated = await s.call<JwtKey__Output>('RotateKey', { name: 'jwt/a' });
  t.deepEqual(rotated.versions.map((v) => v.state), ['active', 'published']);
  t.deepEqual(states(await scrape(metricsUrl())), { published: 1, active: 1, retiring: 0, retired: 0 });
});

test.serial('process metrics: resident memory, and the event-loop lag histogram is reset by every scrape', async (t) => {
  // monitorEventLoopDelay records the time between ticks of its 10 ms timer; a reset forgets the
  // last tick, so a stall counts only once the timer has ticked after the scrape, and shows when it next ticks.
  const tick = () => new Promise((resolve) => setTimeout(resolve, 30));
  await scrape(metricsUrl());
  await tick();
  const blockedUntil = performance.now() + 300;
  while (performance.now() < blockedUntil); // Holds the event loop, as a slow handler would.
  await tick();
  const blocked = await scrape(metricsUrl());
  t.true(valueOf(blocked, 'nodejs_eventloop_lag_max_seconds')! >= 0.25);
  t.is(typeof valueOf(blocked, 'nodejs_eventloop_lag_p99_seconds'), 'number');
  t.true(valueOf(blocked, 'process_resident_memory_bytes')! > 10 * 1024 * 1024);
  // The stall is forgotten: the next scrape only covers the time since the previous one.
  await tick();
  t.true(valueOf(await scrape(metricsUrl()), 'nodejs_eventloop_lag_max_seconds')! < 0.25);
});

test.serial('the endpoint serves /metrics only, in the Prometheus text format', async (t) => {
  const response = await fetch(metricsUrl());
  t.is(response.status, 200);
  t.regex(response.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
  const text = await response.text();
  t.regex(text, /^# HELP signer_requests_total /m);
  t.regex(text, /^# TYPE signer_request_duration_seconds histogram$/m);
  const root = new URL(metricsUrl());
  for (const path of ['/', '/metrics/', '/metricsx', '/.well-known/jwks.json']) {
    t.is((await fetch(new URL(path, root))).status, 404, path);
  }
  t.is((await fetch(metricsUrl(), { method: 'POST' })).status, 405);
  t.is(s.signer.metrics!.url, `http://127.0.0.1:${s.signer.metrics!.port}/metrics`);
  t.not(s.signer.metrics!.port, 0);
});

test.serial('the example dashboard, the README and docs/ name only metrics the endpoint serves', async (t) => {
  const text = await (await fetch(metricsUrl())).text();
  const served = new Set([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].flatMap(([, name, type]) =>
    type === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`, name!] : [name!],
  ));
  for (const file of ['examples/grafana-dashboard.json', ...documentationFiles()]) {
    const named = new Set(readFileSync(join(ROOT, file), 'utf8').match(/\b(?:signer|nodejs_eventloop|process_resident)_[a-z0-9_]*[a-z0-9](?![a-z0-9_*])/g));
    if (['examples/grafana-dashboard.json', 'docs/operations.md'].includes(file)) t.true(named.size > 5, file); // where metrics are listed
    for (const name of named) t.true(served.has(name), `${file} names ${name}`);
  }
});

test.serial('nothing secret in the metrics: no PIN, no key material, no request contents', async (t) => {
  await s.call('SignPersonalMessage', message('very-secret-message-contents'));
  const text = await (await fetch(metricsUrl())).text();
  t.false(text.includes('dev-only-insecure-pin'));
  t.false(text.includes('very-secret-message-contents'));
  t.false(text.includes('local')); // the caller identity in insecure mode
  t.false(/[0-9a-f]{64}/i.test(text)); // no digests, signatures or key bytes
});

test('npm start prints the metrics URL in its banner and serves it until SIGTERM', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'signer-metrics-main-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const started = await startMain(dir, writePolicies(dir, { 'all.yaml': PERMISSIVE_POLICY }));
  try {
    const url = /^ {2}metrics: {2}(http:\/\/127\.0\.0\.1:\d+\/metrics)$/m.exec(started.stdout)?.[1];
    t.truthy(url, started.stdout);
    t.is(valueOf(await scrape(url!), 'signer_hsm_sessions'), 4);
  } finally {
    started.child.kill('SIGTERM');
  }
  t.is(await exitCode(started.child), 0);
});
