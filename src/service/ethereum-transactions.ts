import { bytesToHex } from '@noble/hashes/utils.js';
import { SignerError } from '../domain/errors.js';
import type { PendingRequest } from '../domain/approval.js';
import type { EthereumTransaction } from '../domain/intent.js';
import type { RequestContext } from '../domain/request-context.js';
import { ethereumTransactionScheme } from '../schemes/ethereum/schemes.js';
import type { EcdsaRecoverable, SignedTransaction } from '../schemes/ethereum/transaction.js';
import type { Store } from '../store/store.js';
import { NodeRpcError, requireNode, type EthereumNode } from './ethereum-node.js';
import { encodeResult } from './result-codec.js';
import type { PolicyGate } from './policy-gate.js';
import type { SigningService } from './signing-service.js';
import { encodeUnsignedTransaction, fillTransaction, type TransactionRequest } from './transaction-request.js';

export type SignedEthereumTransaction = EcdsaRecoverable & SignedTransaction;

export type TransactionOutcome =
  | { transaction: EthereumTransaction; signed: SignedEthereumTransaction }
  | { transaction: EthereumTransaction; pending: PendingRequest; broadcastOnApproval: boolean };

/**
 * Transactions that arrive as JSON objects (eth_signTransaction, eth_sendTransaction, Clef's
 * account_signTransaction): filled, encoded into unsigned bytes by the service, then signed through
 * the one signing path, which decodes, judges and signs exactly those bytes; optionally broadcast.
 *
 * The nonce rule: a missing nonce is the larger of the node's pending transaction count for the
 * address and one above the highest nonce this key has claimed on the chain. A transaction signed
 * but never broadcast therefore never makes a later one collide with it (NONCE_REUSED); the later
 * one waits in the node's pool until the earlier one is broadcast (or replaced, where the policy
 * allows replacements). Requests for one key take turns from filling to signing, so concurrent
 * calls in this process get consecutive nonces.
 */
export class EthereumTransactions {
  private readonly turns = new Map<string, Promise<unknown>>();

  constructor(
    private readonly signing: SigningService,
    private readonly store: Store,
    private readonly node: EthereumNode | undefined,
    private readonly policy: PolicyGate,
  ) {}

  /** Fills and signs (or parks); `broadcast` (eth_sendTransaction) needs a node, and marks a parked request to be sent once approved. */
  sign(ctx: RequestContext, keyName: string, request: TransactionRequest, options: { broadcast: boolean }): Promise<TransactionOutcome> {
    if (options.broadcast) requireNode(this.node, 'sending a transaction');
    return this.inTurn(keyName, async () => {
      const filler = { node: this.node, nextNonce: (chainId: bigint) => this.nextNonce(keyName, request.from, chainId), feeBounded: this.feeBounded(keyName) };
      const transaction = await fillTransaction(request, filler);
      const unsignedTransaction = encodeUnsignedTransaction(transaction);
      // A retry under the same client request id is "the same request" if the JSON was, even when the
      // values the service filled in have moved on (the next nonce, the fees).
      const scheme = asReceived(keyName, request, options.broadcast);
      const broadcastOnApproval = options.broadcast && this.node !== undefined;
      const payload = encodeResult({ request: { unsignedTransaction }, ...(broadcastOnApproval ? { broadcast: true } : {}) });
      const signed = await this.signing.signOrPark(ctx, scheme, keyName, { unsignedTransaction }, payload);
      return 'pending' in signed ? { transaction, pending: signed.pending, broadcastOnApproval } : { transaction, signed: signed.result };
    });
  }

  /** Sends a signed transaction to the node; a node that already has it is no error (a retried call). */
  async broadcast(signed: SignedTransaction): Promise<string> {
    const raw = `0x${bytesToHex(signed.signedTransaction)}`;
    const hash = `0x${bytesToHex(signed.transactionHash)}`;
    try {
      await requireNode(this.node, 'sending a transaction').call('eth_sendRawTransaction', [raw]);
    } catch (error) {
      if (error instanceof NodeRpcError && /already known|known transaction|already imported/i.test(error.message)) return hash;
      throw error;
    }
    return hash;
  }

  /** The key's policy caps the total fee: max_total_fee, or both max_gas_limit and max_fee_per_gas. */
  private feeBounded(keyName: string): boolean {
    const rules = this.policy.current.find(keyName).policy?.transactions;
    if (!rules) return false;
    return rules.maxTotalFee !== undefined || (rules.maxGasLimit !== undefined && rules.maxFeePerGas !== undefined);
  }

  private async nextNonce(keyName: string, from: string, chainId: bigint): Promise<bigint> {
    const node = requireNode(this.node, 'filling the missing "transaction.nonce"');
    const pending = await node.call('eth_getTransactionCount', [from, 'pending']);
    if (typeof pending !== 'string' || !/^0x[0-9a-fA-F]{1,16}$/.test(pending)) {
      throw new SignerError('NODE_UNAVAILABLE', 'the downstream node answered eth_getTransactionCount with something that is not a quantity');
    }
    const highest = await this.store.reader.highestNonce(keyName, chainId);
    const next = highest === undefined ? 0n : highest + 1n;
    return BigInt(pending) > next ? BigInt(pending) : next;
  }

  private inTurn<T>(keyName: string, run: () => Promise<T>): Promise<T> {
    const previous = this.turns.get(keyName) ?? Promise.resolve();
    const mine = previous.then(run, run);
    const settled = mine.then(
      () => undefined,
      () => undefined,
    );
    this.turns.set(keyName, settled);
    void settled.then(() => this.turns.get(keyName) === settled && this.turns.delete(keyName));
    return mine;
  }
}

/**
 * The transaction scheme, with the request as received as the idempotency fingerprint. Whether the
 * service broadcasts it is part of the request: a retry by the other method (eth_signTransaction for
 * eth_sendTransaction) is another request, so it can never be told the wrong party broadcasts.
 */
function asReceived(keyName: string, request: TransactionRequest, broadcast: boolean) {
  const fingerprint = `${keyName}|${encodeResult(request)}${broadcast ? '|broadcast' : ''}`;
  return {
    ...ethereumTransactionScheme,
    prepare: (input: { unsignedTransaction: Uint8Array }, key: Parameters<typeof ethereumTransactionScheme.prepare>[1]) => ({
      ...ethereumTransactionScheme.prepare(input, key),
      fingerprint,
    }),
  };
}
