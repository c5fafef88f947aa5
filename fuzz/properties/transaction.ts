import fc from 'fast-check';
import { RLP } from '@ethereumjs/rlp';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { Transaction, getBytes, hexlify, type TransactionLike } from 'ethers';
import type { EthereumTransaction } from '../../src/domain/intent.js';
import { decodeUnsignedTransaction, serializeSigned, type DecodedTransaction } from '../../src/schemes/ethereum/transaction.js';
import { evaluate } from '../../src/policy/evaluate.js';
import { summarizeIntent } from '../../src/audit/intent-summary.js';
import { describeForApprovers } from '../../src/approvals/describe.js';
import { check, decodedOrRefused } from './refusal.js';
import { QUIRKS, concat, encodeWithQuirks, nestedLists, wrapInLists, type Quirk, type RlpTree } from './rlp-quirks.js';
import { FUZZ_POLICIES, FUZZ_TOKEN } from './fuzz-policy.js';

/**
 * Ethereum transaction bytes: valid legacy (EIP-155), EIP-2930 and EIP-1559 transactions built by
 * ethers, then mutated byte by byte and field by field, re-encoded with non-canonical RLP, nested
 * deeply, truncated and extended. Every input must decode or be refused with INVALID_FIELD; every
 * input that decodes must re-encode, from the decoded fields alone, to exactly the bytes received.
 */

const N_HALF = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;
const uint = (max: bigint) => fc.oneof(fc.constantFrom(0n, 1n, 127n, 128n, 255n, 256n, max), fc.bigInt({ min: 0n, max }));
const bytesHex = (length: number) => fc.uint8Array({ minLength: length, maxLength: length }).map((b) => hexlify(b));
const address = fc.oneof(bytesHex(20), fc.constant(FUZZ_TOKEN));
const accessList = fc.array(fc.record({ address: bytesHex(20), storageKeys: fc.array(bytesHex(32), { maxLength: 3 }) }), { maxLength: 3 });

/** ERC-20 calldata (sometimes of the wrong length or with dirty address words) or random bytes. */
const calldata = fc.oneof(
  fc.uint8Array({ maxLength: 200 }),
  fc
    .tuple(fc.constantFrom('a9059cbb', '23b872dd', '095ea7b3', '39509351'), fc.array(fc.oneof(bytesHex(32), fc.constant('0x' + '00'.repeat(12) + 'ab'.repeat(20)), fc.constant('0x' + 'ff'.repeat(32))), { maxLength: 4 }))
    .map(([selector, words]) => getBytes('0x' + selector + words.map((w) => w.slice(2)).join(''))),
);

/** A valid unsigned transaction of any type, serialized by ethers. */
export const validTransaction: fc.Arbitrary<Uint8Array> = fc
  .record({
    type: fc.constantFrom(0, 1, 2),
    chainId: fc.oneof(fc.constantFrom(1n, 10n, 137n, 11155111n), fc.bigInt({ min: 1n, max: 2n ** 64n - 1n })),
    nonce: fc.oneof(fc.constantFrom(0, 1, 127, 128, Number.MAX_SAFE_INTEGER), fc.nat()),
    gasLimit: uint(2n ** 64n),
    gasPrice: uint(2n ** 256n - 1n),
    maxPriorityFeePerGas: uint(2n ** 128n),
    maxFeePerGas: uint(2n ** 256n - 1n),
    to: fc.option(address, { nil: null }),
    value: uint(2n ** 256n - 1n),
    data: calldata,
    accessList,
  })
  .map((fields) => {
    const like: TransactionLike = {
      ...fields,
      data: hexlify(fields.data),
      maxPriorityFeePerGas: fields.maxPriorityFeePerGas % (fields.maxFeePerGas + 1n),
    };
    if (fields.type === 2) like.gasPrice = null;
    else Object.assign(like, { maxFeePerGas: null, maxPriorityFeePerGas: null });
    if (fields.type === 0) like.accessList = null;
    return getBytes(Transaction.from(like).unsignedSerialized);
  });

type ByteEdit =
  | { kind: 'set'; at: number; byte: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; count: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'append'; bytes: Uint8Array };

const byteEdit: fc.Arbitrary<ByteEdit> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
);

function applyByteEdit(bytes: Uint8Array, edit: ByteEdit): Uint8Array {
  const at = 'at' in edit ? edit.at % (bytes.length + 1) : bytes.length;
  switch (edit.kind) {
    case 'set':
      return at < bytes.length ? Uint8Array.from(bytes, (b, i) => (i === at ? edit.byte : b)) : bytes;
    case 'insert':
      return concat(bytes.subarray(0, at), edit.bytes, bytes.subarray(at));
    case 'delete':
      return concat(bytes.subarray(0, at), bytes.subarray(at + edit.count));
    case 'truncate':
      return bytes.subarray(0, at);
    case 'append':
      return concat(bytes, edit.bytes);
  }
}

/** A valid transaction with a few random byte edits: flips, insertions, deletions, truncation, trailing bytes. */
export const byteMutatedTransaction = fc
  .tuple(validTransaction, fc.array(byteEdit, { minLength: 1, maxLength: 4 }))
  .map(([bytes, edits]) => edits.reduce(applyByteEdit, bytes));

type FieldEdit =
  | { kind: 'leadingZero' }
  | { kind: 'replace'; bytes: Uint8Array }
  | { kind: 'oversized'; bytes: Uint8Array }
  | { kind: 'wrapInList'; depth: number }
  | { kind: 'emptyList' }
  | { kind: 'dropItem' }
  | { kind: 'addItem'; bytes: Uint8Array };

const fieldEdit: fc.Arbitrary<FieldEdit> = fc.oneof(
  fc.constant({ kind: 'leadingZero' as const }),
  fc.record({ kind: fc.constant('replace' as const), bytes: fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ minLength: 55, maxLength: 60 })) }),
  fc.record({ kind: fc.constant('oversized' as const), bytes: fc.uint8Array({ minLength: 33, maxLength: 33 }).map((b) => Uint8Array.from(b, (x, i) => (i === 0 ? x | 1 : x))) }),
  fc.record({ kind: fc.constant('wrapInList' as const), depth: fc.integer({ min: 1, max: 3 }) }),
  fc.constant({ kind: 'emptyList' as const }),
  fc.constant({ kind: 'dropItem' as const }),
  fc.record({ kind: fc.constant('addItem' as const), bytes: fc.uint8Array({ maxLength: 33 }) }),
);

/** Applies `edit` to the node at pre-order position `target` (modulo the node count). */
function editTree(tree: RlpTree, target: number, edit: FieldEdit): RlpTree {
  const count = (node: RlpTree): number => (node instanceof Uint8Array ? 1 : 1 + node.reduce((sum, child) => sum + count(child), 0));
  let position = target % count(tree);
  const visit = (node: RlpTree): RlpTree => {
    if (position-- === 0) return applyFieldEdit(node, edit);
    return node instanceof Uint8Array ? node : node.map(visit);
  };
  return visit(tree);
}

function applyFieldEdit(node: RlpTree, edit: FieldEdit): RlpTree {
  switch (edit.kind) {
    case 'leadingZero':
      return node instanceof Uint8Array ? Uint8Array.of(0, ...node) : [Uint8Array.of(0), ...node];
    case 'replace':
    case 'oversized':
      return edit.bytes;
    case 'wrapInList': {
      let wrapped = node;
      for (let i = 0; i < edit.depth; i++) wrapped = [wrapped];
      return wrapped;
    }
    case 'emptyList':
      return [];
    case 'dropItem':
      return node instanceof Uint8Array ? node.subarray(1) : node.slice(1);
    case 'addItem':
      return node instanceof Uint8Array ? concat(node, edit.bytes) : [...node, edit.bytes];
  }
}

const quirks: fc.Arbitrary<Quirk[]> = fc.oneof(
  { weight: 3, arbitrary: fc.constant<Quirk[]>([]) },
  { weight: 2, arbitrary: fc.array(fc.constantFrom(...QUIRKS), { minLength: 1, maxLength: 6 }) },
);

/**
 * A valid transaction with its RLP fields edited, re-encoded canonically or not, perhaps with one
 * field nested thousands of lists deep, under its own or another type byte.
 */
export const fieldMutatedTransaction = fc
  .tuple(
    validTransaction,
    fc.array(fc.tuple(fc.nat(), fieldEdit), { minLength: 1, maxLength: 3 }),
    quirks,
    fc.option(fc.record({ field: fc.nat(), depth: fc.integer({ min: 4, max: 5000 }) }), { freq: 4 }),
    fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.option(fc.integer({ min: 0, max: 0x7f }), { nil: null }) }),
  )
  .map(([bytes, edits, how, deep, newType]) => {
    const typed = bytes[0]! < 0x80;
    let tree = RLP.decode(typed ? bytes.subarray(1) : bytes) as RlpTree;
    for (const [target, edit] of edits) tree = editTree(tree, target, edit);
    let body = encodeWithQuirks(tree, how);
    if (deep && Array.isArray(tree) && tree.length > 0) {
      // Encoded field by field: a recursive encoder would overflow on the deep one.
      const items = tree.map((item) => encodeWithQuirks(item));
      const at = deep.field % items.length;
      items[at] = wrapInLists(items[at]!, deep.depth);
      body = wrapInLists(concat(...items), 1);
    }
    const type = newType === undefined ? (typed ? bytes[0]! : null) : newType;
    return type === null ? body : concat(Uint8Array.of(type), body);
  });

/** RLP shapes no transaction has: random bytes, bare type bytes, lists nested thousands deep. */
export const oddTransactionBytes = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  fc.tuple(fc.constantFrom(0x01, 0x02, 0x03, 0x04), fc.uint8Array({ maxLength: 300 })).map(([type, rest]) => Uint8Array.of(type, ...rest)),
  fc
    .tuple(fc.constantFrom(null, 0x01, 0x02), fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 1, max: 100 }) }, { weight: 1, arbitrary: fc.integer({ min: 1000, max: 80_000 }) }))
    .map(([type, depth]) => (type === null ? nestedLists(depth) : concat(Uint8Array.of(type), nestedLists(depth)))),
);

/**
 * What must hold for bytes the decoder accepted: the digest is keccak-256 of exactly those bytes;
 * re-encoding the decoded transaction (not the raw fields) gives those bytes back; ethers reads the
 * same values from them; the signed serialization carries the same payload; policy, audit summary
 * and approver description take the decoded intent without throwing.
 */
export function checkDecodedTransaction(bytes: Uint8Array, decoded: DecodedTransaction): void {
  const { transaction } = decoded;
  check(hexlify(decoded.digest) === hexlify(keccak_256(bytes)), 'digest is not keccak-256 of the bytes received');
  check(hexlify(reencode(transaction)) === hexlify(bytes), 're-encoding the decoded transaction gives other bytes');
  if (transaction.nonce <= BigInt(Number.MAX_SAFE_INTEGER)) {
    const parsed = Transaction.from(hexlify(bytes));
    check(parsed.unsignedHash === hexlify(decoded.digest), 'ethers computes another signing hash');
    check(parsed.chainId === transaction.chainId && BigInt(parsed.nonce) === transaction.nonce, 'ethers reads another chain id or nonce');
    check(parsed.value === transaction.value && parsed.gasLimit === transaction.gasLimit, 'ethers reads another value or gas limit');
    check((parsed.to?.toLowerCase() ?? null) === transaction.to, 'ethers reads another recipient');
    check(parsed.data === hexlify(transaction.data), 'ethers reads other calldata');
    const signature = { r: 1n + (BigInt(hexlify(decoded.digest)) % (N_HALF - 1n)), s: N_HALF - 7n, yParity: (bytes.length % 2) as 0 | 1 };
    const signed = Transaction.from(hexlify(serializeSigned(decoded, signature).signedTransaction));
    check(signed.unsignedSerialized === hexlify(bytes), 'the signed serialization carries another payload');
    check(signed.signature?.r === hexlify(uint256(signature.r)) && signed.signature.yParity === signature.yParity, 'the signed serialization carries another signature');
  }
  const intent = { scheme: 'ethereum_transaction' as const, transaction };
  for (const policies of FUZZ_POLICIES) {
    const decision = evaluate(policies, 'fuzz/key', intent);
    if (decision.outcome !== 'deny') describeForApprovers(intent, decision.policy);
  }
  summarizeIntent(intent, decoded.digest);
}

/** The unsigned serialization of a decoded transaction, from its typed fields only. */
function reencode(tx: EthereumTransaction): Uint8Array {
  const to = tx.to === null ? new Uint8Array() : getBytes(tx.to);
  const access = tx.accessList.map((entry) => [getBytes(entry.address), entry.storageKeys.map((key) => getBytes(key))]);
  const u = minimalBytes;
  switch (tx.type) {
    case 'legacy':
      return RLP.encode([u(tx.nonce), u(tx.gasPrice!), u(tx.gasLimit), to, u(tx.value), tx.data, u(tx.chainId), new Uint8Array(), new Uint8Array()]);
    case 'eip2930':
      return concat(Uint8Array.of(1), RLP.encode([u(tx.chainId), u(tx.nonce), u(tx.gasPrice!), u(tx.gasLimit), to, u(tx.value), tx.data, access]));
    case 'eip1559':
      return concat(
        Uint8Array.of(2),
        RLP.encode([u(tx.chainId), u(tx.nonce), u(tx.maxPriorityFeePerGas!), u(tx.maxFeePerGas!), u(tx.gasLimit), to, u(tx.value), tx.data, access]),
      );
  }
}

function minimalBytes(value: bigint): Uint8Array {
  if (value === 0n) return new Uint8Array();
  const hex = value.toString(16);
  return getBytes('0x' + (hex.length % 2 ? '0' : '') + hex);
}

function uint256(value: bigint): Uint8Array {
  return getBytes('0x' + value.toString(16).padStart(64, '0'));
}

const decodesOrRefuses = (bytes: Uint8Array) => {
  const decoded = decodedOrRefused(() => decodeUnsignedTransaction(bytes));
  if (decoded) checkDecodedTransaction(bytes, decoded);
};

export const transactionProperties = {
  'valid transactions decode to what ethers serialized and re-encode to the same bytes': fc.property(validTransaction, (bytes) => {
    const decoded = decodeUnsignedTransaction(bytes);
    checkDecodedTransaction(bytes, decoded);
  }),
  'byte-mutated transactions decode exactly or are INVALID_FIELD': fc.property(byteMutatedTransaction, decodesOrRefuses),
  'field-mutated, non-canonical RLP decodes exactly or is INVALID_FIELD': fc.property(fieldMutatedTransaction, decodesOrRefuses),
  'random bytes and deep nesting are INVALID_FIELD': fc.property(oddTransactionBytes, decodesOrRefuses),
};
