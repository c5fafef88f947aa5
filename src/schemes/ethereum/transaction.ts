import { RLP, type NestedUint8Array } from '@ethereumjs/rlp';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { bytesToHex, concatBytes } from '@noble/hashes/utils.js';
import { invalidField } from '../../domain/errors.js';
import type { AccessListEntry, EthereumTransaction, TransactionType } from '../../domain/intent.js';
import { asAddress, asBytes, asList, asUint, decodeRlp, uintBytes, type RlpItem } from './rlp-fields.js';

export interface DecodedTransaction {
  transaction: EthereumTransaction;
  /** keccak-256 of the unsigned bytes as received: what the key signs. */
  digest: Uint8Array;
  /** The decoded RLP fields, reused verbatim in the signed serialization. */
  fields: NestedUint8Array;
}

const FIELD = 'unsigned_transaction';
const f = (name: string) => `${FIELD}.${name}`;

// Typed envelope prefixes (EIP-2718). Anything else below 0x80 is an unknown type.
const TYPE_BYTES: Record<number, TransactionType | string> = {
  0x01: 'eip2930',
  0x02: 'eip1559',
  0x03: 'blob transactions (type 3, EIP-4844) are not supported',
  0x04: 'set-code transactions (type 4, EIP-7702) are not supported',
};

// Field layouts of the unsigned payloads.
const LAYOUTS: Record<TransactionType, { unsigned: number; signed: number; names: string[] }> = {
  legacy: {
    unsigned: 9,
    signed: 9,
    names: ['nonce', 'gasPrice', 'gasLimit', 'to', 'value', 'data', 'chainId', 'r', 's'],
  },
  eip2930: {
    unsigned: 8,
    signed: 11,
    names: ['chainId', 'nonce', 'gasPrice', 'gasLimit', 'to', 'value', 'data', 'accessList'],
  },
  eip1559: {
    unsigned: 9,
    signed: 12,
    names: ['chainId', 'nonce', 'maxPriorityFeePerGas', 'maxFeePerGas', 'gasLimit', 'to', 'value', 'data', 'accessList'],
  },
};

/**
 * Decodes an unsigned legacy (EIP-155), EIP-2930 or EIP-1559 transaction, strictly: canonical RLP,
 * no trailing bytes, minimal integers, a non-zero chain id, and not already signed.
 */
export function decodeUnsignedTransaction(bytes: Uint8Array): DecodedTransaction {
  if (bytes.length === 0) throw invalidField(FIELD, 'is required');
  const first = bytes[0]!;
  let type: TransactionType;
  let payload: Uint8Array;
  if (first >= 0xc0) {
    type = 'legacy';
    payload = bytes;
  } else if (first < 0x80) {
    const known = TYPE_BYTES[first];
    if (known === undefined) throw invalidField(f('type'), `0x${first.toString(16).padStart(2, '0')} is not a known transaction type`);
    if (known !== 'eip2930' && known !== 'eip1559') throw invalidField(f('type'), known);
    type = known;
    payload = bytes.subarray(1);
  } else {
    throw invalidField(FIELD, 'must be an RLP list (legacy) or a typed transaction envelope');
  }

  const fields = asList(decodeRlp(payload, FIELD), FIELD);
  const layout = LAYOUTS[type];
  checkFieldCount(type, fields.length, layout);
  const get = (name: string): RlpItem | undefined => fields[layout.names.indexOf(name)];

  const transaction: EthereumTransaction = {
    type,
    chainId: asUint(get('chainId'), f('chainId')),
    nonce: asUint(get('nonce'), f('nonce'), 8),
    gasLimit: asUint(get('gasLimit'), f('gasLimit')),
    to: decodeTo(get('to')),
    value: asUint(get('value'), f('value')),
    data: asBytes(get('data'), f('data')),
    accessList: type === 'legacy' ? [] : decodeAccessList(get('accessList')),
  };
  if (type === 'eip1559') {
    transaction.maxPriorityFeePerGas = asUint(get('maxPriorityFeePerGas'), f('maxPriorityFeePerGas'));
    transaction.maxFeePerGas = asUint(get('maxFeePerGas'), f('maxFeePerGas'));
    if (transaction.maxPriorityFeePerGas > transaction.maxFeePerGas) {
      throw invalidField(f('maxPriorityFeePerGas'), 'must not exceed maxFeePerGas');
    }
  } else {
    transaction.gasPrice = asUint(get('gasPrice'), f('gasPrice'));
  }
  if (transaction.chainId === 0n) throw invalidField(f('chainId'), 'must not be 0');
  if (type === 'legacy' && (asUint(get('r'), f('r')) !== 0n || asUint(get('s'), f('s')) !== 0n)) {
    throw invalidField(FIELD, 'is already signed (r and s must be empty in an unsigned EIP-155 transaction)');
  }
  return { transaction, digest: keccak_256(bytes), fields };
}

function checkFieldCount(type: TransactionType, count: number, layout: (typeof LAYOUTS)[TransactionType]): void {
  if (count === layout.unsigned) return;
  if (type === 'legacy' && count === 6) {
    throw invalidField(f('chainId'), 'is missing: legacy transactions must use EIP-155 (9 fields)');
  }
  if (count === layout.signed) throw invalidField(FIELD, 'is already signed');
  throw invalidField(FIELD, `${type} transaction must have ${layout.unsigned} fields, got ${count}`);
}

function decodeTo(item: RlpItem | undefined): string | null {
  const bytes = asBytes(item, f('to'));
  return bytes.length === 0 ? null : asAddress(bytes, f('to'));
}

function decodeAccessList(item: RlpItem | undefined): AccessListEntry[] {
  return asList(item, f('accessList')).map((entry, i) => {
    const field = f(`accessList[${i}]`);
    const pair = asList(entry, field);
    if (pair.length !== 2) throw invalidField(field, 'must be [address, storageKeys]');
    const storageKeys = asList(pair[1], `${field}.storageKeys`).map((key, j) => {
      const bytes = asBytes(key, `${field}.storageKeys[${j}]`);
      if (bytes.length !== 32) throw invalidField(`${field}.storageKeys[${j}]`, 'must be 32 bytes');
      return '0x' + bytesToHex(bytes);
    });
    return { address: asAddress(pair[0], `${field}.address`), storageKeys };
  });
}

export interface EcdsaRecoverable {
  r: bigint;
  s: bigint;
  yParity: 0 | 1;
}

export interface SignedTransaction {
  signedTransaction: Uint8Array;
  transactionHash: Uint8Array;
  /** Legacy only: chainId * 2 + 35 + yParity (EIP-155). */
  v?: bigint;
}

/** Serializes the signed transaction from the decoded fields and the signature. */
export function serializeSigned(decoded: DecodedTransaction, signature: EcdsaRecoverable): SignedTransaction {
  const { transaction, fields } = decoded;
  const r = uintBytes(signature.r);
  const s = uintBytes(signature.s);
  let signedTransaction: Uint8Array;
  let v: bigint | undefined;
  if (transaction.type === 'legacy') {
    v = transaction.chainId * 2n + 35n + BigInt(signature.yParity);
    signedTransaction = RLP.encode([...fields.slice(0, 6), uintBytes(v), r, s]);
  } else {
    const typeByte = transaction.type === 'eip2930' ? 0x01 : 0x02;
    const body = RLP.encode([...fields, uintBytes(BigInt(signature.yParity)), r, s]);
    signedTransaction = concatBytes(Uint8Array.of(typeByte), body);
  }
  return { signedTransaction, transactionHash: keccak_256(signedTransaction), ...(v === undefined ? {} : { v }) };
}
