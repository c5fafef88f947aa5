import { auditRecordHash, GENESIS_HASH, type AuditRecord } from '../../domain/audit.js';
import { SignerError } from '../../domain/errors.js';
import { assertPositiveSpends, type Ledger, type NonceRecord, type PendingChange, type SignRequestRecord } from '../store.js';
import { toApproval, toCheckpoint, toPending, toSettings, toSignRequest, toVersion } from '../rows.js';
import { fromVersion } from './rows.js';
import type { Statements } from './statements.js';

/** What a ledger tells its store about the open transaction, to announce once it commits. */
export interface LedgerEvents {
  audited(record: AuditRecord): void;
  changed(change: PendingChange): void;
}

/**
 * The store's operations over one connection's statements. better-sqlite3 is synchronous: each
 * operation runs at once and returns a settled promise, so a transaction's work holds the write lock
 * only for as long as its own code runs.
 */
export function sqliteLedger(sql: Statements, events: LedgerEvents): Ledger {
  const usedIn = (scope: string, perMs: number, now: number): bigint => {
    const latest = sql.latest.get(scope);
    if (!latest) return 0n;
    const before = sql.totalAt.get(scope, now - perMs);
    const total = BigInt(latest.cumulative) - BigInt(before?.cumulative ?? '0');
    // Spends are positive, so usage never is: a negative one means a rewritten ledger. Fail closed.
    if (total < 0n) throw new SignerError('INTERNAL', `the ledger of ${scope} is corrupt: negative usage in its window`);
    return total;
  };
  const recordSpends = (spends: ReadonlyArray<{ scope: string; amount: bigint }>, now: number, policyHash: string) => {
    assertPositiveSpends(spends);
    for (const { scope, amount } of spends) {
      const latest = sql.latest.get(scope);
      // Times never go backwards within a scope, so running totals stay ordered by time.
      const at = Math.max(now, latest?.at_ms ?? now);
      const cumulative = BigInt(latest?.cumulative ?? '0') + amount;
      sql.insertReservation.run(scope, at, amount.toString(), cumulative.toString(), policyHash);
    }
  };
  const claimNonce = (keyName: string, chainId: bigint, nonce: bigint, record: NonceRecord): NonceRecord | undefined => {
    const row = sql.findNonce.get(keyName, chainId.toString(), nonce.toString());
    if (row) return { digest: row.digest, feeCap: BigInt(row.fee_cap), priorityFee: BigInt(row.priority_fee) };
    sql.putNonce.run(keyName, chainId.toString(), nonce.toString(), record.digest, record.feeCap.toString(), record.priorityFee.toString());
    return undefined;
  };
  const putSignRequest = (record: SignRequestRecord) => sql.putRequest.run({ ...record, result: record.result ?? null });
  return {
    async insertKey(key) {
      try {
        sql.insertKey.run({
          name: key.name,
          type: key.type,
          hsm_id: key.hsmId,
          public_jwk: JSON.stringify(key.publicJwk),
          labels: JSON.stringify(key.labels),
          created_at: key.createdAt.getTime(),
        });
      } catch (error) {
        if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
          throw new SignerError('KEY_EXISTS', `key "${key.name}" already exists`, 'name');
        }
        throw error;
      }
    },
    async usage(windows, now) {
      return windows.map(({ scope, perMs }) => usedIn(scope, perMs, now));
    },
    async keyEnabled(name) {
      return sql.keyEnabled.get(name)?.enabled === 1;
    },
    async recordSpends(spends, now, policyHash) {
      recordSpends(spends, now, policyHash);
    },
    async writeReservation({ spends, now, policyHash, nonce, request }) {
      recordSpends(spends, now, policyHash);
      const holder = nonce && claimNonce(request.keyName, nonce.chainId, nonce.nonce, nonce.record);
      putSignRequest(request);
      return holder;
    },
    async requestState(keyName, caller, clientRequestId, usageOf) {
      const earlier = clientRequestId === undefined ? undefined : sql.findRequest.get(caller, clientRequestId);
      const parked = clientRequestId === undefined ? undefined : sql.parkedByClientId.get(caller, clientRequestId);
      return {
        keyEnabled: sql.keyEnabled.get(keyName)?.enabled === 1,
        usage: (usageOf?.windows ?? []).map(({ scope, perMs }) => usedIn(scope, perMs, usageOf!.now)),
        ...(earlier ? { earlier: toSignRequest(earlier) } : {}),
        ...(parked ? { parked: toPending(parked) } : {}),
      };
    },
    async putSignRequest(record) {
      putSignRequest(record);
    },
    async finishSignRequest(caller, requestId, status, result) {
      return sql.finishRequest.run(status, result ?? null, caller, requestId).changes === 1;
    },
    async claimNonce(keyName, chainId, nonce, record) {
      return claimNonce(keyName, chainId, nonce, record);
    },
    async putNonce(keyName, chainId, nonce, record) {
      sql.putNonce.run(keyName, chainId.toString(), nonce.toString(), record.digest, record.feeCap.toString(), record.priorityFee.toString());
    },
    async highestNonce(keyName, chainId) {
      const row = sql.highestNonce.get(keyName, chainId.toString());
      return row && BigInt(row.nonce);
    },
    async recordSignature(keyName, caller, requestId, result, now) {
      if (sql.keyEnabled.get(keyName)?.enabled !== 1) return 'key_disabled';
      if (sql.finishRequest.run('signed', result ?? null, caller, requestId).changes !== 1) return 'not_reserved';
      sql.touchKey.run(now, keyName);
      return 'signed';
    },
    async setKeyEnabled(name, enabled) {
      return sql.setEnabled.run(enabled ? 1 : 0, name).changes === 1;
    },
    async releaseNonce(keyName, chainId, nonce, digest) {
      sql.releaseNonce.run({ keyName, chainId: chainId.toString(), nonce: nonce.toString(), digest });
    },
    async nonceClaims(keyName, limit, chainId) {
      const chain = chainId === undefined ? null : chainId.toString();
      // The newest claims are the ones an operator looks for: read from the top, shown in order.
      return sql.nonceClaims.all(keyName, chain, chain, limit).reverse().map((row) => ({
        chainId: BigInt(row.chain_id),
        nonce: BigInt(row.nonce),
        digest: row.digest,
        feeCap: BigInt(row.fee_cap),
        priorityFee: BigInt(row.priority_fee),
      }));
    },
    async dropNonceClaim(keyName, chainId, nonce) {
      const row = sql.dropNonceClaim.get(keyName, chainId.toString(), nonce.toString());
      return row && { digest: row.digest, feeCap: BigInt(row.fee_cap), priorityFee: BigInt(row.priority_fee) };
    },
    async auditHead() {
      return sql.auditHead.get() ?? { seq: 0, hash: GENESIS_HASH };
    },
    // Statements run at once, one after the other: nothing to pipeline.
    doneSending() {},
    // The write lock is held from BEGIN IMMEDIATE to COMMIT, so the head read here is the head at commit.
    appendAudit(fields) {
      const head = sql.auditHead.get() ?? { seq: 0, hash: GENESIS_HASH };
      const seq = head.seq + 1;
      const record: AuditRecord = { ...fields, seq, prevHash: head.hash, hash: auditRecordHash(seq, fields, head.hash) };
      sql.insertAudit.run(record);
      events.audited(record);
    },
    async jwtSettings(keyName) {
      const row = sql.jwtSettings.get(keyName);
      return row && toSettings(row);
    },
    async putJwtKey(keyName, settings) {
      sql.putJwtKey.run({ keyName, ...settings });
    },
    async versions(keyName) {
      return sql.versions.all(keyName).map(toVersion);
    },
    async insertVersion(version) {
      sql.insertVersion.run(fromVersion(version));
    },
    async updateVersion(version) {
      sql.updateVersion.run(fromVersion(version));
    },
    async setActiveVersion(keyName, hsmId, publicJwk, kid) {
      sql.setActive.run(hsmId, JSON.stringify(publicJwk), kid, keyName);
    },
    async noteTokenExpiry(keyName, kid, expMs) {
      sql.noteExp.run(expMs, keyName, kid);
    },
    async putPending(request) {
      sql.putPending.run({
        ...request,
        rules: JSON.stringify(request.rules),
        result: request.result ?? null,
        clientRequestId: request.clientRequestId ?? null,
        payloadHash: request.payloadHash ?? null,
      });
      events.changed({ id: request.id, parked: true });
    },
    async openParked(keyName, requester) {
      return { key: sql.openByKey.get(keyName)!.n, requester: sql.openByRequester.get(requester)!.n };
    },
    async expirePending(now, reason) {
      const ids = sql.expirePending.all(reason, now).map((row) => row.id);
      for (const id of ids) events.changed({ id, parked: false });
      return ids;
    },
    async getPending(id) {
      const row = sql.getPending.get(id);
      return row && toPending(row);
    },
    async setPendingStatus(id, status, reason = '', result, from) {
      const changed = sql.setPending.run({ status, reason, result: result ?? null, id, from: from ? JSON.stringify(from) : null }).changes === 1;
      if (changed) events.changed({ id, parked: false });
      return changed;
    },
    async rewritePending(id) {
      sql.rewritePending.run(id);
    },
    async putApproval(approval) {
      const added = sql.putApproval.run(approval).changes === 1;
      if (added) events.changed({ id: approval.requestId, parked: false });
      return added;
    },
    async approvals(requestId) {
      return sql.approvals.all(requestId).map(toApproval);
    },
    async lastCheckpoint() {
      const row = sql.lastCheckpoint.get();
      return row && toCheckpoint(row);
    },
    async firstCheckpoint() {
      const row = sql.firstCheckpoint.get();
      return row && toCheckpoint(row);
    },
    async putCheckpoint(checkpoint) {
      sql.insertCheckpoint.run(checkpoint);
    },
  };
}
