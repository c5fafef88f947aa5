import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { validateKeyName } from '../domain/key-name.js';
import type { VersionState } from '../domain/jwt.js';
import type { AuditObserver } from '../audit/audit-trail.js';
import type { HsmObserver } from '../keystore/hsm.js';
import { RESERVED_PREFIX } from '../service/key-service.js';
import type { PolicyGate } from '../service/policy-gate.js';
import type { Store } from '../store/store.js';
import type { CommitObserver } from '../store/sqlite/sqlite-store.js';
import { spendWindowUsage, type WindowUsage } from './spend-windows.js';
import { readUsage, type WindowRef } from '../policy/evaluate.js';

/** One finished RPC, as the API layer saw it. */
export interface CompletedRpc {
  method: string;
  /** As the caller named it: labelled only if it is in the key inventory. */
  keyName?: string;
  /** The decision in its audit record (allow, deny, approval_required, error, ok, replay). */
  decision: string;
  /** gRPC status name: OK, PERMISSION_DENIED, ... */
  code: string;
  /** Unary calls only: a stream lasts as long as its client follows it, which says nothing about us. */
  seconds?: number;
}

export interface RpcObserver {
  rpcCompleted(call: CompletedRpc): void;
}

/** What the scrape-time gauges read. */
export interface MetricSources {
  store: Store;
  policy: PolicyGate;
  sessions(): { size: number; busy: number; waiting: number };
}

// Sign calls take milliseconds; key generation (RSA) and approval signing can take seconds.
const RPC_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
// SoftHSM signs in tens of microseconds (P-256) to milliseconds (RSA-3072); network HSMs take longer.
const HSM_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
// A group commit's SQL runs in well under a millisecond; its fdatasync waits for the disk and the thread pool.
const COMMIT_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256];
const VERSION_STATES: readonly VersionState[] = ['published', 'active', 'retiring', 'retired'];
/** Scrapes read at most this many parked requests: the gauge saturates rather than the scrape stalling. */
const PENDING_SCAN_LIMIT = 10_000;
const KEY_PAGE = 500;

/**
 * The service's Prometheus metrics, on a registry of its own (never prom-client's global one, so
 * several signers in one process, as in tests, do not collide). Counters and histograms are updated
 * as calls finish; gauges of state (sessions, parked requests, spend windows, JWT versions) are
 * computed when scraped. Label values are method names, key names from the inventory, policy
 * field paths, token symbols and chain ids: never key material, request contents or identities.
 */
export class SignerMetrics implements RpcObserver {
  readonly registry = new Registry();
  /** Given to the keystore: times each signature inside the token. */
  readonly hsm: HsmObserver;
  /** Given to the SQLite store: times each group commit. */
  readonly commits: CommitObserver;
  /** Given to the audit trail: a broken chain or a bad checkpoint signature. */
  readonly audit: AuditObserver;
  private sources?: MetricSources;
  /** Key names already found in the inventory (keys are never deleted, so this only grows with it). */
  private readonly knownKeys = new Set<string>();
  private readonly requests: Counter<'method' | 'key' | 'decision' | 'code'>;
  private readonly rpcSeconds: Histogram<'method'>;

  constructor() {
    // Process metrics, including process_resident_memory_bytes and nodejs_eventloop_lag_p99_seconds
    // (monitorEventLoopDelay; prom-client resets that histogram on every scrape).
    collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'signer_requests_total',
      help: 'Finished RPCs by method, key (empty when the call named no key in the inventory), audit decision and gRPC status.',
      labelNames: ['method', 'key', 'decision', 'code'],
      registers,
    });
    this.rpcSeconds = new Histogram({
      name: 'signer_request_duration_seconds',
      help: 'Latency of unary RPCs, from arrival to reply, by method.',
      labelNames: ['method'],
      buckets: RPC_BUCKETS,
      registers,
    });
    const hsmSeconds = new Histogram({
      name: 'signer_hsm_sign_duration_seconds',
      help: 'Time inside the HSM per signature (C_SignInit to result, not the wait for a session), by mechanism.',
      labelNames: ['mechanism'],
      buckets: HSM_BUCKETS,
      registers,
    });
    this.hsm = { signed: (mechanism, seconds) => hsmSeconds.observe({ mechanism }, seconds) };
    const commitSeconds = new Histogram({
      name: 'signer_store_commit_duration_seconds',
      help: 'SQLite group commits by part: transaction (BEGIN to COMMIT, on the event loop) and sync (the fdatasync on the thread pool, durable commits only).',
      labelNames: ['part'],
      buckets: COMMIT_BUCKETS,
      registers,
    });
    const commitItems = new Histogram({
      name: 'signer_store_commit_batch_size',
      help: 'Transactions per SQLite group commit.',
      buckets: BATCH_BUCKETS,
      registers,
    });
    this.commits = {
      committed: (items, transactionSeconds, syncSeconds) => {
        commitItems.observe(items);
        commitSeconds.observe({ part: 'transaction' }, transactionSeconds);
        if (syncSeconds !== undefined) commitSeconds.observe({ part: 'sync' }, syncSeconds);
      },
    };
    const chainBroken = new Gauge({
      name: 'signer_audit_chain_broken',
      help: '1 while the audit chain failed its last check (records or checkpoints changed or removed behind the service): nothing is sealed until it passes.',
      registers,
    });
    const sealRefusals = new Counter({
      name: 'signer_audit_seal_refusals_total',
      help: 'Audit checkpoints not sealed, by reason: chain_broken (the chain failed its check) or bad_signature (the HSM signature did not verify against the pinned key).',
      labelNames: ['reason'],
      registers,
    });
    chainBroken.set(0);
    this.audit = {
      chainChecked: (intact) => chainBroken.set(intact ? 0 : 1),
      sealRefused: (reason) => sealRefusals.inc({ reason }),
    };
    this.defineStateGauges(registers);
  }

  /** Scrape-time gauges read these from now on; until then they have no series. */
  watch(sources: MetricSources): void {
    this.sources = sources;
  }

  rpcCompleted(call: CompletedRpc): void {
    if (call.seconds !== undefined) this.rpcSeconds.observe({ method: call.method }, call.seconds);
    const count = (key: string) => this.requests.inc({ method: call.method, key, decision: call.decision, code: call.code });
    const known = this.knownKeyLabel(call.keyName);
    if (known !== undefined) count(known);
    else void this.lookUpKeyLabel(call.keyName!).then(count);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text: collects every scrape-time gauge. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /**
   * A key name only if the inventory has it: names callers make up must not create series. Undefined
   * when the inventory must be asked (`lookUpKeyLabel`).
   */
  private knownKeyLabel(name: string | undefined): string | undefined {
    if (!name || name.startsWith(RESERVED_PREFIX) || !isKeyName(name) || !this.sources) return '';
    return this.knownKeys.has(name) ? name : undefined;
  }

  private async lookUpKeyLabel(name: string): Promise<string> {
    const key = await this.sources?.store.findKey(name).catch(() => undefined);
    if (!key) return '';
    this.knownKeys.add(name);
    return name;
  }

  private defineStateGauges(registers: Registry[]): void {
    const gauge = <L extends string>(name: string, help: string, labelNames: L[], read?: (g: Gauge<L>, sources: MetricSources) => void | Promise<void>) => {
      const g: Gauge<L> = new Gauge<L>({
        name,
        help,
        labelNames,
        registers,
        ...(read && {
          collect: async () => {
            g.reset(); // Series for keys or states that are gone must not linger.
            if (this.sources) await read(g, this.sources);
          },
        }),
      });
      return g;
    };

    gauge('signer_hsm_sessions', 'PKCS#11 sessions in the pool.', [], (g, s) => g.set(s.sessions().size));
    gauge('signer_hsm_sessions_busy', 'PKCS#11 sessions in use by an operation.', [], (g, s) => g.set(s.sessions().busy));
    gauge('signer_hsm_session_waiters', 'Operations waiting for a free PKCS#11 session.', [], (g, s) => g.set(s.sessions().waiting));

    gauge('signer_pending_requests', 'Parked sign requests not yet final: pending (awaiting approvals) or approved (being signed).', ['status'], async (g, s) => {
      const now = s.policy.now();
      let pending = 0;
      let approved = 0;
      for (const request of await s.store.pendingRequests(['pending', 'approved'], PENDING_SCAN_LIMIT)) {
        if (request.status === 'approved') approved++;
        // Expiry and policy changes are applied lazily, when a request is next read; a scrape never
        // writes, so it leaves out the requests that read would end.
        else if (now < request.expiresAt && s.policy.current.find(request.keyName).policy?.hash === request.policyHash) pending++;
      }
      g.set({ status: 'pending' }, pending);
      g.set({ status: 'approved' }, approved);
    });

    // One pass over the keys fills both window gauges: the registry asks every gauge at once, in the
    // order they were registered, so the first starts the pass and the second waits for the same one.
    let pass: Promise<WindowUsage[]> | undefined;
    const labels = (row: WindowUsage) => ({ key: row.key, asset: row.asset, chain: row.chain, window: row.window, per: row.per });
    gauge('signer_spend_window_used', 'What is counted in each spend window and rate limit now, in whole units of its asset.', WINDOW_LABELS, async (g, s) => {
      pass = windowUsage(s);
      for (const row of await pass) g.set(labels(row), row.used);
    });
    gauge('signer_spend_window_limit', 'The max of each spend window and rate limit, in whole units of its asset.', WINDOW_LABELS, async (g, s) => {
      for (const row of await (pass ?? windowUsage(s))) g.set(labels(row), row.limit);
    });

    gauge('signer_jwt_key_versions', 'Versions of each JWT key by state.', ['key', 'state'], async (g, s) => {
      for (const { keyName } of await s.store.jwtKeys()) {
        const versions = await s.store.reader.versions(keyName);
        for (const state of VERSION_STATES) g.set({ key: keyName, state }, versions.filter((v) => v.state === state).length);
      }
    });
  }
}

type WindowLabel = 'key' | 'asset' | 'chain' | 'window' | 'per';
const WINDOW_LABELS: WindowLabel[] = ['key', 'asset', 'chain', 'window', 'per'];

function isKeyName(name: string): boolean {
  try {
    validateKeyName(name);
    return true;
  } catch {
    return false;
  }
}

/** Every window of every key with its usage now; the usage of all of them is read in one round trip. */
async function windowUsage(s: MetricSources): Promise<WindowUsage[]> {
  const now = s.policy.now();
  const keyNames = await inventory(s.store);
  // Two passes: the first names the windows, whose usage is then read at once.
  const windows: WindowRef[] = [];
  spendWindowUsage(s.policy.current, keyNames, (scope, perMs) => {
    windows.push({ scope, perMs });
    return 0n;
  });
  return spendWindowUsage(s.policy.current, keyNames, await readUsage(windows, (unique) => s.store.reader.usage(unique, now)));
}

/** Every key name in the inventory, a page at a time, without the service's own keys. */
async function inventory(store: Store): Promise<string[]> {
  const names: string[] = [];
  for (let after = ''; ; ) {
    const page = await store.listKeys(KEY_PAGE, after);
    for (const key of page) if (!key.name.startsWith(RESERVED_PREFIX)) names.push(key.name);
    if (page.length < KEY_PAGE) return names;
    after = page.at(-1)!.name;
  }
}
