import { RLP } from '@ethereumjs/rlp';
import { concatBytes, hexToBytes } from '@noble/hashes/utils.js';
import { invalidField, SignerError } from '../domain/errors.js';
import type { AccessListEntry, EthereumTransaction, TransactionType } from '../domain/intent.js';
import { uintBytes } from '../schemes/ethereum/rlp-fields.js';
import { requireNode, type EthereumNode } from './ethereum-node.js';

/**
 * A transaction object as Ethereum tools send it (eth_sendTransaction, eth_signTransaction, Clef's
 * account_signTransaction): hex quantities, `input` and/or `data`, `gas` or `gasLimit`, `type` given
 * or not. Missing values are filled from the downstream node; the service then encodes the unsigned
 * bytes, and those bytes are what the signing path decodes, judges and signs.
 */
export type TransactionRequest = { from: string; type?: TransactionType; accessList?: AccessListEntry[] } & Pick<EthereumTransaction, 'to' | 'value' | 'data'> &
  Partial<Pick<EthereumTransaction, 'chainId' | 'nonce' | 'gasLimit' | 'gasPrice' | 'maxFeePerGas' | 'maxPriorityFeePerGas'>>;

const FIELD = 'transaction';
const KNOWN = new Set(['from', 'to', 'gas', 'gasLimit', 'gasPrice', 'maxFeePerGas', 'maxPriorityFeePerGas', 'value', 'data', 'input', 'nonce', 'chainId', 'type', 'accessList']);
const TYPES: Record<string, TransactionType | string> = {
  '0': 'legacy',
  '1': 'eip2930',
  '2': 'eip1559',
  '3': 'blob transactions (type 3, EIP-4844) are not supported',
  '4': 'set-code transactions (type 4, EIP-7702) are not supported',
};

/** Reads a transaction object strictly: every value checked, unknown fields refused, each error naming its field. */
export function parseTransactionRequest(value: unknown, field = FIELD): TransactionRequest {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw invalidField(field, 'must be a transaction object');
  const json = value as Record<string, unknown>;
  const f = (name: string) => `${field}.${name}`;
  for (const key of Object.keys(json)) if (!KNOWN.has(key)) throw invalidField(f(key), 'is not a supported transaction field');
  const present = (name: string) => json[name] !== undefined && json[name] !== null;
  const quantity = (name: string, maxBytes = 32) => (present(name) ? parseQuantity(json[name], f(name), maxBytes) : undefined);

  if (!present('from')) throw invalidField(f('from'), 'is required');
  const from = parseAddress(json.from, f('from'));
  const to = present('to') && json.to !== '' ? parseAddress(json.to, f('to')) : null;
  const input = present('input') ? parseData(json.input, f('input')) : undefined;
  const data = present('data') ? parseData(json.data, f('data')) : undefined;
  if (input && data && Buffer.compare(input, data) !== 0) throw invalidField(f('input'), 'and "data" are both given and differ');
  const gas = quantity('gas');
  const gasLimit = quantity('gasLimit');
  if (gas !== undefined && gasLimit !== undefined && gas !== gasLimit) throw invalidField(f('gas'), 'and "gasLimit" are both given and differ');
  const request: TransactionRequest = { from, to, value: quantity('value') ?? 0n, data: input ?? data ?? new Uint8Array(0) };
  const optional = {
    chainId: quantity('chainId'),
    nonce: quantity('nonce', 8),
    gasLimit: gas ?? gasLimit,
    gasPrice: quantity('gasPrice'),
    maxFeePerGas: quantity('maxFeePerGas'),
    maxPriorityFeePerGas: quantity('maxPriorityFeePerGas'),
    accessList: present('accessList') ? parseAccessList(json.accessList, f('accessList')) : undefined,
  };
  for (const [name, v] of Object.entries(optional)) if (v !== undefined) Object.assign(request, { [name]: v });
  if (request.chainId === 0n) throw invalidField(f('chainId'), 'must not be 0');
  request.type = present('type') ? parseType(json.type, f('type')) : impliedType(request);
  checkFeeFields(request, f);
  return request;
}

function impliedType(request: TransactionRequest): TransactionType | undefined {
  if (request.maxFeePerGas !== undefined || request.maxPriorityFeePerGas !== undefined) return 'eip1559';
  if (request.gasPrice !== undefined) return request.accessList ? 'eip2930' : 'legacy';
  return undefined;
}

function checkFeeFields(request: TransactionRequest, f: (name: string) => string): void {
  if (request.type === 'eip1559' && request.gasPrice !== undefined) throw invalidField(f('gasPrice'), 'is not a field of an EIP-1559 (type 2) transaction');
  if (request.type !== 'eip1559' && request.type !== undefined) {
    if (request.maxFeePerGas !== undefined) throw invalidField(f('maxFeePerGas'), `is not a field of a ${request.type} transaction`);
    if (request.maxPriorityFeePerGas !== undefined) throw invalidField(f('maxPriorityFeePerGas'), `is not a field of a ${request.type} transaction`);
  }
  if (request.type === 'legacy' && request.accessList?.length) throw invalidField(f('accessList'), 'is not a field of a legacy transaction');
}

/** What fills the missing values: the downstream node, and the nonce rule of the caller. */
export interface Filler {
  node: EthereumNode | undefined;
  /** The nonce to use when the request has none (see ethereum-transactions.ts for the rule); NODE_UNAVAILABLE without a node. */
  nextNonce(chainId: bigint): Promise<bigint>;
  /**
   * Whether the key's policy bounds what the transaction may pay in fees. Only then may the node's
   * gas estimate and fee answers go into a signature: a hostile node could otherwise set them.
   */
  feeBounded: boolean;
}

/** Refuses a node fill of gas or fees that no policy cap bounds; names the missing field. */
function requireFeeBound(filler: Filler, name: string): void {
  if (!filler.feeBounded) throw invalidField(`${FIELD}.${name}`, 'is missing: give gas and fees, or set max_total_fee in the policy');
}

/** Fills the missing chain id, type, nonce, gas limit and fees; without a node, a missing value is NODE_UNAVAILABLE naming it. */
export async function fillTransaction(request: TransactionRequest, filler: Filler): Promise<EthereumTransaction> {
  const node = (name: string) => requireNode(filler.node, `filling the missing "${FIELD}.${name}"`);
  const ask = async (name: string, method: string, params: unknown[] = []) => nodeQuantity(await node(name).call(method, params), method);
  const type = request.type ?? 'eip1559';
  const chainId = request.chainId ?? (await ask('chainId', 'eth_chainId'));
  const nonce = request.nonce ?? (await filler.nextNonce(chainId));
  const call = { from: request.from, ...(request.to ? { to: request.to } : {}), value: hex(request.value), data: `0x${Buffer.from(request.data).toString('hex')}` };
  // Checked before the node is asked anything about gas or fees.
  if (request.gasLimit === undefined) requireFeeBound(filler, 'gas');
  if (type === 'eip1559') {
    if (request.maxFeePerGas === undefined) requireFeeBound(filler, 'maxFeePerGas');
  } else if (request.gasPrice === undefined) requireFeeBound(filler, 'gasPrice');
  const gasLimit = request.gasLimit ?? (await ask('gas', 'eth_estimateGas', [call]));
  const transaction: EthereumTransaction = { type, chainId, nonce, gasLimit, to: request.to, value: request.value, data: request.data, accessList: request.accessList ?? [] };
  if (type === 'eip1559') {
    const priority = request.maxPriorityFeePerGas ?? (await ask('maxPriorityFeePerGas', 'eth_maxPriorityFeePerGas'));
    transaction.maxPriorityFeePerGas = request.maxFeePerGas === undefined ? priority : minBigint(priority, request.maxFeePerGas);
    // Room for the base fee to double, as ethers and viem allow.
    transaction.maxFeePerGas = request.maxFeePerGas ?? 2n * (await baseFee(node('maxFeePerGas'))) + transaction.maxPriorityFeePerGas;
  } else {
    transaction.gasPrice = request.gasPrice ?? (await ask('gasPrice', 'eth_gasPrice'));
  }
  return transaction;
}

/** The unsigned EIP-155 / EIP-2930 / EIP-1559 encoding: the bytes the signing path decodes and signs. */
export function encodeUnsignedTransaction(t: EthereumTransaction): Uint8Array {
  const to = t.to === null ? new Uint8Array(0) : hexToBytes(t.to.slice(2));
  const accessList = t.accessList.map((entry) => [hexToBytes(entry.address.slice(2)), entry.storageKeys.map((key) => hexToBytes(key.slice(2)))]);
  const u = uintBytes;
  switch (t.type) {
    case 'legacy':
      return RLP.encode([u(t.nonce), u(t.gasPrice!), u(t.gasLimit), to, u(t.value), t.data, u(t.chainId), new Uint8Array(0), new Uint8Array(0)]);
    case 'eip2930':
      return concatBytes(Uint8Array.of(1), RLP.encode([u(t.chainId), u(t.nonce), u(t.gasPrice!), u(t.gasLimit), to, u(t.value), t.data, accessList]));
    case 'eip1559':
      return concatBytes(
        Uint8Array.of(2),
        RLP.encode([u(t.chainId), u(t.nonce), u(t.maxPriorityFeePerGas!), u(t.maxFeePerGas!), u(t.gasLimit), to, u(t.value), t.data, accessList]),
      );
  }
}

async function baseFee(node: EthereumNode): Promise<bigint> {
  const block = (await node.call('eth_getBlockByNumber', ['latest', false])) as { baseFeePerGas?: unknown } | null;
  if (!block || block.baseFeePerGas === undefined) {
    throw new SignerError('NODE_UNAVAILABLE', 'the downstream node reports no base fee: give "transaction.maxFeePerGas" or "transaction.gasPrice"');
  }
  return nodeQuantity(block.baseFeePerGas, 'eth_getBlockByNumber');
}

function nodeQuantity(value: unknown, method: string): bigint {
  if (typeof value !== 'string' || !/^0x[0-9a-fA-F]{1,64}$/.test(value)) {
    throw new SignerError('NODE_UNAVAILABLE', `the downstream node answered ${method} with something that is not a quantity`);
  }
  return BigInt(value);
}

const hex = (n: bigint) => `0x${n.toString(16)}`;
const minBigint = (a: bigint, b: bigint) => (a < b ? a : b);

/** A hex quantity ("0x1a"; leading zeros tolerated, as some tools send them) or a non-negative safe integer. */
export function parseQuantity(value: unknown, field: string, maxBytes = 32): bigint {
  let n: bigint;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) n = BigInt(value);
  else if (typeof value === 'string' && /^0x[0-9a-fA-F]{1,64}$/.test(value)) n = BigInt(value);
  else throw invalidField(field, 'must be a hex quantity such as "0x1a"');
  if (n >= 1n << BigInt(8 * maxBytes)) throw invalidField(field, `must fit in ${maxBytes} bytes`);
  return n;
}

export function parseAddress(value: unknown, field: string): string {
  if (typeof value !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(value)) throw invalidField(field, 'must be a 20-byte hex address');
  return value.toLowerCase();
}

export function parseData(value: unknown, field: string): Uint8Array {
  if (typeof value !== 'string' || !/^0x([0-9a-fA-F]{2})*$/.test(value)) throw invalidField(field, 'must be 0x-prefixed hex bytes');
  return hexToBytes(value.slice(2));
}

function parseType(value: unknown, field: string): TransactionType {
  const n = parseQuantity(value, field, 1).toString();
  const known = TYPES[n];
  if (known === undefined) throw invalidField(field, `${n} is not a known transaction type`);
  if (known !== 'legacy' && known !== 'eip2930' && known !== 'eip1559') throw invalidField(field, known);
  return known;
}

function parseAccessList(value: unknown, field: string): AccessListEntry[] {
  if (!Array.isArray(value)) throw invalidField(field, 'must be a list of {address, storageKeys}');
  return value.map((entry: unknown, i) => {
    const at = `${field}[${i}]`;
    if (!entry || typeof entry !== 'object') throw invalidField(at, 'must be {address, storageKeys}');
    const { address, storageKeys, ...rest } = entry as Record<string, unknown>;
    const extra = Object.keys(rest)[0];
    if (extra !== undefined) throw invalidField(`${at}.${extra}`, 'is not a field of an access list entry');
    if (!Array.isArray(storageKeys)) throw invalidField(`${at}.storageKeys`, 'must be a list of 32-byte hex keys');
    return {
      address: parseAddress(address, `${at}.address`),
      storageKeys: storageKeys.map((key: unknown, j) => {
        if (typeof key !== 'string' || !/^0x[0-9a-fA-F]{64}$/.test(key)) throw invalidField(`${at}.storageKeys[${j}]`, 'must be 32 bytes of hex');
        return key.toLowerCase();
      }),
    };
  });
}
