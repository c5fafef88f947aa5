import { invalidField } from '../domain/errors.js';
import type { RequestContext } from '../domain/request-context.js';
import type { AuditTrail } from '../audit/audit-trail.js';
import { lockNames, type NonceClaim, type Store } from '../store/store.js';
import type { KeyService } from './key-service.js';

/** A bound on one reply (at most about 330 bytes a claim with 256-bit chain ids and fees: within the default 256 KiB message limit): a busy key claims a nonce per transaction, for ever. The newest are listed. */
export const MAX_LISTED_CLAIMS = 500;
/** Nonces are 64-bit in Ethereum; chain ids fit in 256 bits as the transaction decoder takes them. */
const MAX_NONCE = 2n ** 64n - 1n;
const MAX_CHAIN_ID = 2n ** 256n - 1n;

/**
 * The nonces a key has claimed (one signed transaction per key, chain and nonce) and their release
 * by an operator: after a dev chain restarts, or when a signed transaction was never broadcast, the
 * claim would otherwise refuse every other transaction with that nonce (NONCE_REUSED) for good.
 * Access checks happen in the API layer, before these run.
 */
export class NonceClaims {
  constructor(
    private readonly store: Store,
    private readonly keys: KeyService,
    private readonly audit: AuditTrail,
  ) {}

  /**
   * The key's claims by chain and nonce, on one chain when `chainId` is given: the last
   * MAX_LISTED_CLAIMS of them, `truncated` when earlier ones were left out.
   */
  async list(keyName: string, chainId?: string): Promise<{ claims: NonceClaim[]; truncated: boolean }> {
    const key = await this.keys.get(keyName, 'key_name');
    const chain = chainId === undefined || chainId === '' ? undefined : parseNumber(chainId, 'chain_id', 1n, MAX_CHAIN_ID);
    // One more than shown: whether anything was left out, without a count over every claim.
    const claims = await this.store.reader.nonceClaims(key.name, MAX_LISTED_CLAIMS + 1, chain);
    const truncated = claims.length > MAX_LISTED_CLAIMS;
    return { claims: truncated ? claims.slice(1) : claims, truncated };
  }

  /**
   * Drops one claim, so that another transaction may be signed with that nonce. The audit record
   * (naming chain, nonce and the released digest) commits in the same transaction as the release.
   * INVALID_FIELD (nonce) when there is no such claim.
   */
  async release(ctx: RequestContext, keyName: string, chainId: string, nonce: string): Promise<NonceClaim> {
    const key = await this.keys.get(keyName, 'key_name');
    const chain = parseNumber(chainId, 'chain_id', 1n, MAX_CHAIN_ID);
    const n = parseNumber(nonce, 'nonce', 0n, MAX_NONCE);
    const released = await this.store.transaction(async (tx) => {
      const dropped = await tx.dropNonceClaim(key.name, chain, n);
      // INVALID_ARGUMENT naming the field rather than a new error code: the nonce asked for is the mistake.
      if (!dropped) throw invalidField('nonce', `names no claim: key "${key.name}" holds no claim on nonce ${n} of chain ${chain} (see: signer nonces list ${key.name})`);
      ctx.intent = JSON.stringify({ chainId: chain.toString(), nonce: n.toString(), digest: `0x${dropped.digest}` });
      this.audit.appendInTx(tx, ctx, { decision: 'ok' });
      return dropped;
    }, { locks: [lockNames.key(key.name)] });
    ctx.audited = true;
    return { chainId: chain, nonce: n, ...released };
  }
}

/** A decimal integer in [min, max] as text (protobuf uint64 arrives as a string): no sign, no leading zeros. */
function parseNumber(text: string, field: string, min: bigint, max: bigint): bigint {
  if (!/^(0|[1-9][0-9]*)$/.test(text)) throw invalidField(field, 'must be a decimal integer without leading zeros');
  const value = BigInt(text);
  if (value < min || value > max) throw invalidField(field, `must be between ${min} and ${max}`);
  return value;
}
