import { bytesToHex } from '@noble/hashes/utils.js';
import { summarizeIntent } from '../audit/intent-summary.js';
import type { AuditTrail } from '../audit/audit-trail.js';
import { sha256Hex } from '../domain/audit.js';
import { SignerError } from '../domain/errors.js';
import type { EthereumTransaction } from '../domain/intent.js';
import type { Logger } from '../domain/logger.js';
import type { RequestContext } from '../domain/request-context.js';
import type { Hsm } from '../keystore/hsm.js';
import type { Decision, Denial } from '../policy/decision.js';
import type { KeyRecord } from '../domain/key.js';
import type { Prepared, Scheme } from '../schemes/scheme.js';
import { lockNames, type Ledger, type NonceRecord, type Store } from '../store/store.js';
import { RESERVED_PREFIX, type KeyService } from './key-service.js';
import type { PolicyGate } from './policy-gate.js';
import { decodeStoredResult, encodeResult, encodeSealedResult } from './result-codec.js';
import { refusal } from './policy-gate.js';
import type { PendingRequest } from '../domain/approval.js';
import { describeForApprovers } from '../approvals/describe.js';
import type { SignIntent } from '../domain/intent.js';
import { randomUUID } from 'node:crypto';
import { faults } from '../testing/faults.js';
import { checkParkingCaps, DEFAULT_PARKING_LIMITS, type ParkingLimits } from '../approvals/parking-limits.js';

/**
 * The one signing path, the same for every scheme:
 * resolve key -> decode the request into an intent (the digest comes from exactly the decoded bytes)
 * -> one exclusive transaction, group-committed with concurrent requests: idempotency, key enabled,
 *    policy and spend reservation, nonce, the request's intent record -> sign in the HSM, off the event
 *    loop (the key is checked once more just before) -> finish (low-s, recovery id, verify) -> one transaction: the audit record and the
 *    stored result -> reply. If that last write fails, the signature is never released.
 */
export class SigningService {
  /** Keys that are not JWT keys, by name: see `signingKey`. */
  private readonly plainKeys = new Map<string, KeyRecord>();

  constructor(
    private readonly hsm: Hsm,
    private readonly keys: KeyService,
    private readonly policy: PolicyGate,
    private readonly store: Store,
    private readonly audit: AuditTrail,
    private readonly log: Logger,
    private readonly parking: ParkingLimits = DEFAULT_PARKING_LIMITS,
  ) {}

  async sign<Request, Decoded, Result>(
    ctx: RequestContext,
    scheme: Scheme<Request, Decoded, Result>,
    keyName: string,
    request: Request,
    /** Extra writes that must commit with the signature's audit record (e.g. a JWT's expiry). */
    inFinalTx?: (tx: Ledger, result: Result) => Promise<unknown>,
  ): Promise<Result> {
    const outcome = await this.run(ctx, scheme, keyName, request, { ...(inFinalTx ? { inFinalTx } : {}) });
    if ('pending' in outcome) throw new SignerError('INTERNAL', 'a request that cannot be parked was parked');
    return outcome.result;
  }

  /**
   * Like `sign`, but a request the policy sends to approvers is parked (stored with its decoded
   * intent, digest, policy hash, requester and expiry) instead of refused.
   */
  signOrPark<Request, Decoded, Result>(
    ctx: RequestContext,
    scheme: Scheme<Request, Decoded, Result>,
    keyName: string,
    request: Request,
    payload: string,
  ): Promise<{ result: Result } | { pending: PendingRequest }> {
    return this.run(ctx, scheme, keyName, request, { park: { payload } });
  }

  /**
   * Signs a parked request whose quorum was met. `recheck` runs inside the transaction that reserves
   * the spend and must throw unless the request is still approved with a met quorum.
   */
  async signApproved<Request, Decoded, Result>(
    ctx: RequestContext,
    scheme: Scheme<Request, Decoded, Result>,
    parked: PendingRequest,
    request: Request,
    recheck: (tx: Ledger) => Promise<void>,
  ): Promise<Result> {
    const outcome = await this.run(ctx, scheme, parked.keyName, request, {
      approved: { parked, recheck },
      // Only the transaction that finds it still approved signs it: never twice, whatever the replica.
      inFinalTx: async (tx, result) => {
        if (!(await tx.setPendingStatus(parked.id, 'signed', '', encodeResult(result), ['approved']))) {
          throw new SignerError('APPROVAL_INVALID', `request ${parked.id} is no longer approved; nothing was released`);
        }
      },
    });
    if ('pending' in outcome) throw new SignerError('INTERNAL', 'an approved request was parked again');
    return outcome.result;
  }

  private async run<Request, Decoded, Result>(
    ctx: RequestContext,
    scheme: Scheme<Request, Decoded, Result>,
    keyName: string,
    request: Request,
    options: {
      inFinalTx?: (tx: Ledger, result: Result) => Promise<unknown>;
      park?: { payload: string };
      approved?: { parked: PendingRequest; recheck: (tx: Ledger) => Promise<void> };
    },
  ): Promise<{ result: Result } | { pending: PendingRequest }> {
    const { inFinalTx } = options;
    const resolved = await this.prepare(scheme, keyName, request);
    if ('denial' in resolved) {
      ctx.policyHash = resolved.denial.policy?.hash;
      throw refusal(resolved.denial);
    }
    const { key, prepared } = resolved;
    ctx.intent = summarizeIntent(prepared.intent, prepared.input);
    // Server ids get a prefix a client id cannot have, so the two never collide.
    const id = ctx.clientRequestId ?? `server/${ctx.requestId}`;
    // What makes two requests "the same": the scheme, the mechanism and exactly what gets signed (or,
    // where the service adds values of its own, the request as received).
    const payloadHash = sha256Hex(`${scheme.name}|${prepared.mechanism}|${prepared.fingerprint ?? bytesToHex(prepared.input)}`);
    const now = this.policy.now();
    // What this request serializes on, in every replica: its key's windows, nonces, parking cap and
    // enabled flag; its request id; the parked request it signs. Not the requester: every transaction a
    // relayer signs may park, and one lock per requester would serialize all its keys (the per-requester
    // parking cap may be passed by requests parking on several keys at the same moment).
    const locks = [
      lockNames.key(key.name),
      ...(ctx.clientRequestId ? [lockNames.request(ctx.caller, ctx.clientRequestId)] : []),
      ...(options.approved ? [lockNames.parked(options.approved.parked.id)] : []),
    ];

    let claimed: { chainId: bigint; nonce: bigint; digest: string } | undefined;
    // Not durable on its own: the record of the signature commits durably before any signature leaves,
    // and that fsync covers this commit too. A parked request is made durable just below.
    const begun = await this.store.transaction(async (tx): Promise<{ replay: string } | { decision: Decision } | { parked: PendingRequest } | { retried: PendingRequest }> => {
      claimed = undefined; // The work may run again (a retried batch): only its last run counts.
      // The request's state and the usage of the windows the policy needs are one read. The decision is
      // made after the request's state is looked at, which comes first (a retry of a signed request gets
      // its signature even if the window has filled since). An approved request's rate-limit slot was
      // taken when it was parked.
      const assessment = this.policy.assess(key.name, prepared.intent, options.approved ? 'RATE_LIMIT' : undefined);
      const { keyEnabled, earlier, parked, usage } = await tx.requestState(key.name, ctx.caller, ctx.clientRequestId, { windows: assessment.windows, now });
      if (ctx.clientRequestId) {
        if (earlier && (earlier.payloadHash !== payloadHash || earlier.keyName !== key.name || earlier.method !== ctx.method)) {
          throw new SignerError('REQUEST_ID_REUSED', `request id "${ctx.clientRequestId}" was already used for a different request`, 'request_id');
        }
        // A disabled key releases nothing, not even a signature it made before (a replay).
        if (earlier?.status === 'signed') {
          if (!keyEnabled) throw disabled(key.name);
          if (earlier.result === undefined) {
            throw new SignerError('REQUEST_ID_REUSED', `request id "${ctx.clientRequestId}" was signed already and its result is no longer kept; use a new request id`, 'request_id');
          }
          return { replay: earlier.result };
        }
        if (earlier?.status === 'reserved') {
          throw new SignerError('REQUEST_IN_PROGRESS', `request id "${ctx.clientRequestId}" is still being signed; retry shortly`, 'request_id');
        }
        // A retry of a parked request gets that request (its signature once signed), never a second copy.
        if (parked && (parked.payloadHash !== payloadHash || parked.keyName !== key.name || parked.method !== ctx.method)) {
          throw new SignerError('REQUEST_ID_REUSED', `request id "${ctx.clientRequestId}" was already used for a different request`, 'request_id');
        }
        if (parked?.status === 'signed' && parked.result !== undefined) {
          if (!keyEnabled) throw disabled(key.name);
          return { replay: parked.result };
        }
        if (parked) return { retried: parked };
      }
      if (!keyEnabled) throw disabled(key.name);
      // The payload of an approved request is re-decoded from the database: it must still be what the
      // approvers' signatures name (a swapped payload alone is caught; see the README's threat model).
      if (options.approved && bytesToHex(prepared.input) !== options.approved.parked.digest) {
        throw new SignerError('APPROVAL_INVALID', 'the parked request no longer matches the digest its approvers signed');
      }
      const decision = this.policy.conclude(assessment, usage);
      ctx.policyHash = decision.policy.hash;
      if (decision.outcome === 'approval_required') {
        const { approved, park } = options;
        if (approved) {
          // The policy must still ask for exactly the approvals that were collected.
          const names = (rules: Array<{ name: string }>) => rules.map((r) => r.name).sort().join(',');
          if (decision.policy.hash !== approved.parked.policyHash || names(decision.approvals) !== names(approved.parked.rules)) {
            throw new SignerError('APPROVAL_INVALID', 'the policy changed since the request was parked: its approvals no longer count');
          }
          await approved.recheck(tx);
        } else if (park) {
          await checkParkingCaps(tx, key.name, ctx.caller, this.parking);
          // Parking is a request like any other: it takes a slot of the key's rate limits now.
          await this.policy.reserve(tx, { ...decision, spends: decision.spends.filter((spend) => spend.reason === 'RATE_LIMIT') }, now);
          const pending = { ...parkRequest(ctx, key.name, prepared, bytesToHex(prepared.input), decision, park.payload, now), payloadHash };
          await tx.putPending(pending);
          this.audit.appendInTx(tx, ctx, { decision: 'approval_required', reason: 'PENDING_APPROVAL' });
          return { parked: pending };
        } else throw refusal(decision);
      } else if (options.approved) {
        await options.approved.recheck(tx);
      }
      // The spend, the nonce claim and the request's intent record: one statement on PostgreSQL.
      const intent = prepared.intent;
      const allowReplacements = decision.policy.transactions?.allowReplacements ?? false;
      const nonceClaim =
        intent.scheme === 'ethereum_transaction'
          ? { chainId: intent.transaction.chainId, nonce: intent.transaction.nonce, record: nonceRecord(intent.transaction, bytesToHex(prepared.input)) }
          : undefined;
      const reserving = tx.writeReservation({
        spends: decision.spends,
        now,
        policyHash: decision.policy.hash,
        ...(nonceClaim ? { nonce: nonceClaim } : {}),
        request: {
          caller: ctx.caller,
          requestId: id,
          keyName: key.name,
          method: ctx.method,
          payloadHash,
          // A digest is safe to keep; a raw message (ed25519, rsa) is kept only as its hash.
          digest: prepared.mechanism === 'ecdsa-digest' ? bytesToHex(prepared.input) : sha256Hex(prepared.input),
          policyHash: decision.policy.hash,
          status: 'reserved',
          createdAt: now,
        },
      });
      // All it sends, unless a replacement may follow the nonce claim: the batch's next work may start.
      if (!allowReplacements) tx.doneSending();
      const holder = await reserving;
      if (nonceClaim && intent.scheme === 'ethereum_transaction') {
        if (holder === undefined) claimed = { chainId: nonceClaim.chainId, nonce: nonceClaim.nonce, digest: nonceClaim.record.digest };
        else await replaceNonceClaim(tx, key.name, intent.transaction, nonceClaim.record, holder, allowReplacements);
      }
      return { decision };
    }, { durable: false, locks });

    if ('parked' in begun) {
      // The caller hears of the parked request only once it is on disk: rewriting its row unchanged in a
      // durable commit makes the earlier commit durable too.
      await this.store.transaction((tx) => tx.rewritePending(begun.parked.id));
      ctx.audited = true;
      return { pending: begun.parked };
    }
    if ('retried' in begun) {
      await this.audit.append(ctx, { decision: 'replay' });
      return { pending: begun.retried };
    }
    if ('replay' in begun) {
      // Opened first: a stored result that does not open is audited as the error it is, not as a replay.
      const result = await decodeStoredResult<Result>(begun.replay, this.hsm, storedResultAad(ctx.caller, id));
      await this.audit.append(ctx, { decision: 'replay' });
      return { result };
    }
    faults.crashPoint('after-reservation');

    let result: Result;
    let hsmCalled = false;
    try {
      const raw = await this.hsm.sign(key.hsmId, prepared.mechanism, prepared.input, async () => {
        if (!(await this.store.reader.keyEnabled(key.name))) throw disabled(key.name);
        hsmCalled = true;
      });
      result = scheme.finish(prepared, raw, key);
      faults.crashPoint('after-hsm-sign');
    } catch (error) {
      if (error instanceof SignerError && error.code === 'HSM_BAD_SIGNATURE') {
        this.log.error('HSM returned a signature that does not verify; not released', { requestId: ctx.requestId, key: key.name });
      }
      // Nothing reached the HSM: the nonce claim can go. After the HSM, it stays (fail closed).
      this.markFailed(ctx.caller, id, key.name, hsmCalled ? undefined : claimed);
      throw error;
    }

    // Fail closed: the signature leaves only once its audit record is durable, and not at all if the
    // key was frozen meanwhile (the database orders this against DisableKey's commit).
    try {
      // Kept for a retry with the same id; a bearer secret only sealed under the HSM's at-rest key.
      const stored = !ctx.clientRequestId
        ? undefined
        : scheme.secretResult
          ? await encodeSealedResult(result, this.hsm, storedResultAad(ctx.caller, id))
          : encodeResult(result);
      await this.store.transaction(async (tx) => {
        const recording = tx.recordSignature(key.name, ctx.caller, id, stored, now);
        // Without extra writes that is all it sends: the batch's next work need not wait for the reply.
        if (!inFinalTx) tx.doneSending();
        const recorded = await recording;
        if (recorded === 'key_disabled') throw disabled(key.name);
        if (recorded === 'not_reserved') {
          throw new SignerError('REQUEST_SETTLED', `request "${id}" was settled by an operator while it was being signed; nothing was released`);
        }
        await inFinalTx?.(tx, result);
        this.audit.appendInTx(tx, ctx, { decision: 'allow', signatureHash: sha256Hex(scheme.signatureOf(result)) });
      }, { locks });
    } catch (error) {
      this.markFailed(ctx.caller, id, key.name);
      throw error;
    }
    faults.crashPoint('after-record');
    ctx.audited = true;
    return { result };
  }

  /** What the policy would decide for this request now, through the same decoding as `sign`. */
  async explain<Request, Decoded, Result>(ctx: RequestContext, scheme: Scheme<Request, Decoded, Result>, keyName: string, request: Request): Promise<Decision> {
    const resolved = await this.prepare(scheme, keyName, request);
    if ('denial' in resolved) return resolved.denial;
    const { key, prepared } = resolved;
    ctx.intent = summarizeIntent(prepared.intent, prepared.input);
    return this.policy.explain(key.name, prepared.intent);
  }

  private async prepare<Request, Decoded, Result>(
    scheme: Scheme<Request, Decoded, Result>,
    keyName: string,
    request: Request,
  ): Promise<{ key: KeyRecord; prepared: Prepared<Decoded> } | { denial: Denial }> {
    const { key, jwt } = await this.signingKey(scheme, keyName);
    if (key.name.startsWith(RESERVED_PREFIX)) throw new SignerError('KEY_NOT_FOUND', `key "${keyName}" does not exist`, 'key_name');
    if (!scheme.keyTypes.includes(key.type)) {
      throw new SignerError(
        'WRONG_KEY_TYPE',
        `key "${key.name}" is a ${key.type} key; ${scheme.name} signing needs ${scheme.keyTypes.join(' or ')}`,
        'key_name',
      );
    }
    // A JWT key signs only JWTs: raw bytes with the same algorithm would be a token that skipped the claim rules.
    if (scheme.name !== 'jwt' && jwt) {
      throw new SignerError('WRONG_KEY_TYPE', `key "${key.name}" is a JWT key: it signs only with SignJwt`, 'key_name');
    }
    // Before decoding: a scheme the policy does not enable is refused at no cost, whatever the request holds.
    const denial = this.policy.schemeDenial(key.name, scheme.name);
    if (denial) return { denial };
    return { key, prepared: scheme.prepare(request, key) };
  }

  /**
   * The key and whether it is a JWT key. What signing reads from a key that is not a JWT key (type, HSM
   * id, public key) never changes, and a key never becomes a JWT key later, so those are read once per
   * process; a JWT key's active version changes with rotation (on any replica), so it is read every time.
   * Whether the key is enabled is never taken from here: the transactions check it.
   */
  private async signingKey(scheme: { name: string }, keyName: string): Promise<{ key: KeyRecord; jwt: boolean }> {
    const cached = scheme.name === 'jwt' ? undefined : this.plainKeys.get(keyName);
    if (cached) return { key: cached, jwt: false };
    const key = await this.keys.get(keyName, 'key_name');
    const jwt = (await this.store.reader.jwtSettings(key.name)) !== undefined;
    if (!jwt) {
      if (this.plainKeys.size >= PLAIN_KEYS_CACHED) this.plainKeys.clear();
      this.plainKeys.set(key.name, key);
    }
    return { key, jwt };
  }

  /**
   * Marks the request failed so that a retry with its id can proceed, and drops a nonce claim nothing
   * was signed for. Not awaited: the caller's error goes out at once. If the database cannot be written
   * (the very fault that often brought us here), it tries again a few times; the reservation stays
   * either way (fail closed), and `signer requests settle` covers what is still left.
   */
  private markFailed(caller: string, id: string, keyName: string, unusedNonce?: { chainId: bigint; nonce: bigint; digest: string }, attempt = 1): void {
    this.store
      .transaction(
        async (tx) => {
          await tx.finishSignRequest(caller, id, 'failed');
          if (unusedNonce) await tx.releaseNonce(keyName, unusedNonce.chainId, unusedNonce.nonce, unusedNonce.digest);
        },
        { locks: [lockNames.key(keyName)] },
      )
      .catch((error: unknown) => {
        if (attempt >= MARK_FAILED_ATTEMPTS) {
          this.log.warn('could not mark a failed sign request; `signer requests settle` can', { requestId: id, error: String(error) });
          return;
        }
        setTimeout(() => this.markFailed(caller, id, keyName, unusedNonce, attempt + 1), MARK_FAILED_RETRY_MS * attempt).unref();
      });
  }
}

function parkRequest(
  ctx: RequestContext,
  keyName: string,
  prepared: { intent: SignIntent },
  digest: string,
  decision: Extract<Decision, { outcome: 'approval_required' }>,
  payload: string,
  now: number,
): PendingRequest {
  const intent = prepared.intent;
  const chainId =
    intent.scheme === 'ethereum_transaction'
      ? intent.transaction.chainId.toString()
      : intent.scheme === 'eip712' && intent.typedData.domain.chainId !== undefined
        ? BigInt(intent.typedData.domain.chainId as string | number).toString()
        : '0';
  return {
    id: randomUUID(),
    keyName,
    method: ctx.method,
    payload,
    digest,
    chainId,
    intent: JSON.stringify({ ...JSON.parse(ctx.intent ?? '{}'), words: describeForApprovers(intent, decision.policy) }),
    policyHash: decision.policy.hash,
    rules: decision.approvals.map((rule) => ({ name: rule.name, quorum: rule.quorum, rejectEnds: rule.rejectEnds, distinct: rule.distinctApprovers })),
    requester: ctx.caller,
    createdAt: now,
    expiresAt: now + Math.min(...decision.approvals.map((rule) => rule.expiresAfterMs)),
    status: 'pending',
    reason: '',
    ...(ctx.clientRequestId ? { clientRequestId: ctx.clientRequestId } : {}),
  };
}

/** Binds a sealed result to its row: moved to another caller's or request's row, it does not open. */
function storedResultAad(caller: string, requestId: string): string {
  return `sign_requests\n${caller}\n${requestId}`;
}

const MARK_FAILED_ATTEMPTS = 5;
/** Keys whose signing facts are kept (a few hundred bytes each); past this the cache starts over. */
const PLAIN_KEYS_CACHED = 10_000;
const MARK_FAILED_RETRY_MS = 1000;

function disabled(name: string): SignerError {
  return new SignerError('KEY_DISABLED', `key "${name}" is disabled: nothing is signed with it until an operator enables it`, 'key_name');
}

/** The claim a transaction makes on its nonce: its digest and its fees, which a replacement must raise. */
function nonceRecord(transaction: EthereumTransaction, digest: string): NonceRecord {
  return {
    digest,
    feeCap: transaction.maxFeePerGas ?? transaction.gasPrice ?? 0n,
    priorityFee: transaction.maxPriorityFeePerGas ?? transaction.gasPrice ?? 0n,
  };
}

/**
 * One transaction per (key, chain, nonce), against the claim that already holds the nonce: the same
 * transaction again passes; a different one is refused, unless the policy allows replacements and it
 * raises both the fee cap and the priority fee, which then takes over the claim.
 */
async function replaceNonceClaim(tx: Ledger, keyName: string, transaction: EthereumTransaction, claim: NonceRecord, holder: NonceRecord, allowReplacements: boolean): Promise<void> {
  if (holder.digest === claim.digest) return;
  const where = `nonce ${transaction.nonce} on chain ${transaction.chainId}`;
  // A claim left by a transaction that never reached the chain is otherwise a dead end: say the way out.
  const release = ` (an operator can release the claim with: signer nonces release ${keyName} --chain ${transaction.chainId} --nonce ${transaction.nonce})`;
  if (!allowReplacements) throw new SignerError('NONCE_REUSED', `a different transaction was already signed for ${where}${release}`, 'unsigned_transaction.nonce');
  if (claim.feeCap <= holder.feeCap || claim.priorityFee <= holder.priorityFee) {
    throw new SignerError('NONCE_REUSED', `a replacement for ${where} must raise both the fee cap and the priority fee${release}`, 'unsigned_transaction.nonce');
  }
  await tx.putNonce(keyName, transaction.chainId, transaction.nonce, claim);
}
