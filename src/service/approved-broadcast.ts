import type { ApprovalService } from '../approvals/approval-service.js';
import type { Logger } from '../domain/logger.js';
import { decodeResult } from './result-codec.js';
import type { EthereumTransactions, SignedEthereumTransaction } from './ethereum-transactions.js';

/**
 * A transaction that came through eth_sendTransaction and was parked for approval is broadcast by the
 * service once its approvers have signed it off (its stored payload says so, so this survives a
 * restart of the waiting caller), by the replica that signed it, once. The outcome is logged; the caller can also fetch the signed
 * transaction with GetSignRequest and send it itself, which the node then takes as already known.
 */
export function broadcastApprovedTransactions(approvals: ApprovalService, transactions: EthereumTransactions, log: Logger): () => void {
  const sent = new Set<string>();
  const onSigned = async (id: string) => {
    const request = await approvals.peek(id).catch(() => undefined);
    if (!request || request.status !== 'signed' || request.method !== 'SignEthereumTransaction' || sent.has(id)) return;
    if (!decodeResult<{ broadcast?: boolean }>(request.payload).broadcast) return;
    const signed = approvals.result<SignedEthereumTransaction>(request);
    if (!signed) return;
    sent.add(id);
    transactions.broadcast(signed).then(
      (hash) => log.info('approved transaction broadcast', { requestId: id, transactionHash: hash }),
      (error: unknown) => log.warn('approved transaction could not be broadcast', { requestId: id, error: String(error) }),
    );
  };
  return approvals.onSignedHere((id) => void onSigned(id));
}
