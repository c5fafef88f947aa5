import { bytesToHex } from '@noble/hashes/utils.js';
import type { RequestContext } from '../../domain/request-context.js';
import type { EthereumTransaction } from '../../domain/intent.js';
import { NodeRpcError } from '../../service/ethereum-node.js';
import type { SignedEthereumTransaction, TransactionOutcome } from '../../service/ethereum-transactions.js';
import { parseTransactionRequest } from '../../service/transaction-request.js';
import { BroadcastRefused, PendingApproval } from './errors.js';
import { positional, required } from './params.js';
import type { JsonRpcServices, MethodTable } from './server.js';

const RPC = 'SignEthereumTransaction';
const hex = (bytes: Uint8Array) => `0x${bytesToHex(bytes)}`;
const quantity = (n: bigint | number) => `0x${n.toString(16)}`;

/**
 * eth_signTransaction (returns the raw signed transaction, as Web3Signer and the execution API do),
 * eth_sendTransaction (signs, then sends it to the downstream node; returns its hash) and Clef's
 * account_signTransaction (returns {raw, tx}).
 */
export function transactionMethods({ accounts, transactions, policy }: JsonRpcServices): MethodTable {
  const sign = async (ctx: RequestContext, params: unknown, broadcast: boolean): Promise<Extract<TransactionOutcome, { signed: unknown }>> => {
    const request = parseTransactionRequest(required(positional(params, 1), 0), 'params[0]');
    ctx.keyName = await accounts.resolve(ctx.caller, RPC, request.from, 'params[0].from');
    policy.access.check(ctx.caller, RPC, ctx.keyName);
    const outcome = await transactions.sign(ctx, ctx.keyName, request, { broadcast });
    if ('pending' in outcome) throw new PendingApproval(outcome.pending, outcome.broadcastOnApproval ? 'service' : 'caller');
    return outcome;
  };
  return {
    eth_signTransaction: { rpc: RPC, signs: true, handle: async (ctx, params) => hex((await sign(ctx, params, false)).signed.signedTransaction) },
    eth_sendTransaction: {
      rpc: RPC,
      signs: true,
      handle: async (ctx, params) => {
        const { signed } = await sign(ctx, params, true);
        try {
          return await transactions.broadcast(signed);
        } catch (error) {
          throw error instanceof NodeRpcError ? new BroadcastRefused(error, hex(signed.transactionHash)) : error;
        }
      },
    },
    account_signTransaction: {
      rpc: RPC,
      signs: true,
      handle: async (ctx, params) => {
        const { transaction, signed } = await sign(ctx, params, false);
        return { raw: hex(signed.signedTransaction), tx: clefTransaction(transaction, signed) };
      },
    },
  };
}

/** The transaction as geth marshals it (Clef's account_signTransaction `tx`). */
function clefTransaction(t: EthereumTransaction, signed: SignedEthereumTransaction) {
  const type = { legacy: 0, eip2930: 1, eip1559: 2 }[t.type];
  return {
    type: quantity(type),
    chainId: quantity(t.chainId),
    nonce: quantity(t.nonce),
    to: t.to,
    gas: quantity(t.gasLimit),
    ...(t.gasPrice === undefined ? {} : { gasPrice: quantity(t.gasPrice) }),
    ...(t.maxFeePerGas === undefined ? {} : { maxFeePerGas: quantity(t.maxFeePerGas), maxPriorityFeePerGas: quantity(t.maxPriorityFeePerGas!) }),
    value: quantity(t.value),
    input: hex(t.data),
    ...(t.type === 'legacy' ? {} : { accessList: t.accessList }),
    v: quantity(signed.v ?? BigInt(signed.yParity)),
    r: quantity(signed.r),
    s: quantity(signed.s),
    ...(t.type === 'legacy' ? {} : { yParity: quantity(signed.yParity) }),
    hash: hex(signed.transactionHash),
  };
}
