import { requireNode, type EthereumNode } from '../../service/ethereum-node.js';

/**
 * What the downstream node answers for us: reads and eth_sendRawTransaction, nothing else. An
 * allowlist, so the node's own account, admin, debug and test methods (personal_*, admin_*, anvil_*,
 * ...) are never reachable through the signer, and signing methods we do not implement are refused
 * rather than passed to a node that might hold keys of its own.
 */
export const FORWARDED_METHODS: ReadonlySet<string> = new Set([
  'web3_clientVersion',
  'net_version',
  'net_listening',
  'eth_chainId',
  'eth_blockNumber',
  'eth_syncing',
  'eth_gasPrice',
  'eth_maxPriorityFeePerGas',
  'eth_blobBaseFee',
  'eth_feeHistory',
  'eth_getBalance',
  'eth_getCode',
  'eth_getStorageAt',
  'eth_getTransactionCount',
  'eth_getProof',
  'eth_call',
  'eth_estimateGas',
  'eth_createAccessList',
  'eth_getBlockByNumber',
  'eth_getBlockByHash',
  'eth_getBlockReceipts',
  'eth_getBlockTransactionCountByNumber',
  'eth_getBlockTransactionCountByHash',
  'eth_getTransactionByHash',
  'eth_getTransactionByBlockNumberAndIndex',
  'eth_getTransactionByBlockHashAndIndex',
  'eth_getTransactionReceipt',
  'eth_getLogs',
  'eth_sendRawTransaction',
]);

/** Passes a forwarded method to the node: its result, or its error object as the node sent it. */
export function forward(node: EthereumNode | undefined, method: string, params: unknown): Promise<unknown> {
  return requireNode(node, method).call(method, params === undefined ? [] : (params as unknown[]));
}
