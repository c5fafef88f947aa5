import { createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { Transaction, getBytes, hexlify } from 'ethers';
import type { SignEthereumTransactionResponse__Output } from '../../src/api/generated/signer/v1/SignEthereumTransactionResponse.js';
import { ERROR_CODE_KEY } from '../../src/api/grpc/status.js';
import type { Replica } from './replicas.js';

export const RECIPIENT = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed';
export const GWEI = 1_000_000_000n;

/** Grants the insecure-mode identity `local` every role on every key. */
export const REPLICA_ACCESS = `grants:
  - identity: local
    roles: [signer, admin, approver]
    keys: ["**"]
`;

/** A policy for keys matching `pattern`: transfers on chain 1 to anyone, capped by one rolling spend window of `max` per `per`. */
export function windowPolicy(pattern: string, max: string, per = '24h'): string {
  return `key: "${pattern}"
ethereum_transactions:
  chain_ids: [1]
  recipients: { allow: any }
  max_value: "1 ether"
  spend_windows: [{ per: ${per}, max: "${max}" }]
`;
}

/** An unsigned EIP-1559 transfer on chain 1. */
export function transfer(nonce: number, value: bigint, to = RECIPIENT): Uint8Array {
  return getBytes(Transaction.from({ type: 2, chainId: 1n, nonce, gasLimit: 21000n, maxFeePerGas: 10n, maxPriorityFeePerGas: 1n, to, value }).unsignedSerialized);
}

/** What one RPC came to: a signed transaction or the failure's gRPC status and stable error code. */
export type Outcome =
  | { ok: true; response: SignEthereumTransactionResponse__Output; replica: number; repliedAt: number }
  | { ok: false; code: grpc.status; errorCode?: string; details: string; replica: number; repliedAt: number };

export type Signed = Extract<Outcome, { ok: true }>;

/** The outcomes that carry a signature. */
export const signedOnly = (outcomes: Outcome[]): Signed[] => outcomes.flatMap((o) => (o.ok ? [o] : []));

/** Calls SignEthereumTransaction on `replica` and never throws: failures come back as outcomes. */
export async function signTransfer(replica: Replica, keyName: string, unsignedTransaction: Uint8Array, requestId = ''): Promise<Outcome> {
  try {
    const response = await replica.call<SignEthereumTransactionResponse__Output>('SignEthereumTransaction', { keyName, unsignedTransaction, requestId });
    return { ok: true, response, replica: replica.index, repliedAt: performance.now() };
  } catch (error) {
    const e = error as grpc.ServiceError;
    const errorCode = e.metadata?.get(ERROR_CODE_KEY)[0]?.toString();
    return { ok: false, code: e.code, ...(errorCode ? { errorCode } : {}), details: e.details, replica: replica.index, repliedAt: performance.now() };
  }
}

/** The sender ethers recovers from a signed transaction (an independent check of the signature). */
export function recoveredSender(response: SignEthereumTransactionResponse__Output): string {
  return Transaction.from(hexlify(response.signedTransaction)).from!;
}

/** What the audit log records for a released transaction signature: SHA-256 of r || s || yParity. */
export function signatureHash(response: SignEthereumTransactionResponse__Output): string {
  return createHash('sha256').update(Buffer.concat([response.r, response.s, Buffer.from([response.yParity])])).digest('hex');
}

export function countBy<T>(items: T[], key: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Callers that keep sending 1-gwei transfers (fresh nonces) to `targets()` until stopped. */
export interface Load {
  readonly outcomes: Outcome[];
  /** The next unused nonce: other callers take theirs from here too. */
  nextNonce(): number;
  stop(): Promise<void>;
}

/**
 * Starts `callers` callers per target replica, each sending a transfer, waiting for its reply, pausing
 * `pauseMs`, and so on. `targets` is asked before every call, so a restarted replica is picked up.
 */
export function startLoad(targets: () => Replica[], keyName: string, options: { callers?: number; pauseMs?: number } = {}): Load {
  const outcomes: Outcome[] = [];
  let nonce = 0;
  let stopped = false;
  const callers = targets().flatMap((_, slot) =>
    Array.from({ length: options.callers ?? 2 }, async () => {
      while (!stopped) {
        outcomes.push(await signTransfer(targets()[slot]!, keyName, transfer(nonce++, GWEI)));
        await sleep(options.pauseMs ?? 100);
      }
    }),
  );
  return {
    outcomes,
    nextNonce: () => nonce++,
    async stop() {
      stopped = true;
      await Promise.all(callers);
    },
  };
}

/**
 * The most any rolling window of `perMs` ever held in `scope`, from the reservations table itself: for
 * each reservation, the sum of it and the earlier ones of its scope inside the window that ends at it.
 */
export async function largestWindowTotal(psql: (sql: string) => Promise<string>, scope: string, perMs: number): Promise<bigint> {
  const total = await psql(`SELECT COALESCE(max((SELECT sum(q.amount) FROM reservations q
      WHERE q.scope = r.scope AND q.seq <= r.seq AND q.at_ms > r.at_ms - ${perMs})), 0)::text
    FROM reservations r WHERE r.scope = '${scope}'`);
  return BigInt(total);
}
