import test from 'ava';
import fc from 'fast-check';
import { RLP } from '@ethereumjs/rlp';
import { Transaction, getBytes, hexlify, Wallet, keccak256 } from 'ethers';
import { SignerError } from '../../src/domain/errors.js';
import { decodeUnsignedTransaction } from '../../src/schemes/ethereum/transaction.js';

const eip1559 = {
  type: 2,
  chainId: 1n,
  nonce: 1,
  maxFeePerGas: 10n,
  maxPriorityFeePerGas: 1n,
  gasLimit: 21000n,
  to: '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed',
  value: 5n,
  data: '0x',
};
const unsigned = (fields: object) => getBytes(Transaction.from(fields).unsignedSerialized);

function refusal(t: import('ava').ExecutionContext, bytes: Uint8Array, field: string | RegExp, message?: RegExp): void {
  const error = t.throws(() => decodeUnsignedTransaction(bytes), { instanceOf: SignerError });
  t.is(error?.code, 'INVALID_FIELD');
  if (typeof field === 'string') t.is(error?.field, field);
  else t.regex(error?.field ?? '', field);
  if (message) t.regex(error?.message ?? '', message);
}

test('the digest is keccak-256 of exactly the bytes received', (t) => {
  const bytes = unsigned(eip1559);
  t.is(hexlify(decodeUnsignedTransaction(bytes).digest), keccak256(bytes));
});

test('malformed RLP is refused', (t) => {
  refusal(t, Uint8Array.of(0x02, 0xf8, 0xff, 0x01), 'unsigned_transaction', /RLP/);
});

test('trailing bytes are refused', (t) => {
  refusal(t, new Uint8Array([...unsigned(eip1559), 0x00]), 'unsigned_transaction', /RLP/);
});

test('non-canonical RLP (a long-form length under 56) is refused', (t) => {
  const body = RLP.encode([1, 2, 3]).subarray(1); // payload of a short list
  const longForm = Uint8Array.of(0x02, 0xf8, body.length, ...body);
  refusal(t, longForm, 'unsigned_transaction', /RLP/);
});

test('integers with leading zeros are refused, naming the field', (t) => {
  const fields = RLP.decode(unsigned(eip1559).subarray(1)) as Uint8Array[];
  fields[1] = Uint8Array.of(0x00, 0x01); // nonce
  refusal(t, Uint8Array.of(0x02, ...RLP.encode(fields)), 'unsigned_transaction.nonce', /leading zero/);
});

test('a legacy transaction without a chain id (pre-EIP-155) is refused', (t) => {
  const fields = RLP.decode(unsigned({ ...eip1559, type: 0, gasPrice: 1n, maxFeePerGas: undefined, maxPriorityFeePerGas: undefined })) as Uint8Array[];
  refusal(t, RLP.encode(fields.slice(0, 6)), 'unsigned_transaction.chainId', /missing/);
});

test('chain id 0 is refused', (t) => {
  const fields = RLP.decode(unsigned(eip1559).subarray(1)) as Uint8Array[];
  fields[0] = new Uint8Array(0);
  refusal(t, Uint8Array.of(0x02, ...RLP.encode(fields)), 'unsigned_transaction.chainId', /must not be 0/);
});

test('an already-signed transaction is refused', async (t) => {
  const wallet = Wallet.createRandom();
  for (const fields of [eip1559, { ...eip1559, type: 0, gasPrice: 1n, maxFeePerGas: undefined, maxPriorityFeePerGas: undefined }]) {
    const signed = getBytes(await wallet.signTransaction(fields));
    refusal(t, signed, 'unsigned_transaction', /already signed/);
  }
});

test('unknown types, blob (3) and set-code (4) transactions are refused naming the type', (t) => {
  const body = unsigned(eip1559).subarray(1);
  refusal(t, Uint8Array.of(0x05, ...body), 'unsigned_transaction.type', /not a known transaction type/);
  refusal(t, Uint8Array.of(0x03, ...body), 'unsigned_transaction.type', /EIP-4844/);
  refusal(t, Uint8Array.of(0x04, ...body), 'unsigned_transaction.type', /EIP-7702/);
});

test('a priority fee above the max fee is refused', (t) => {
  const fields = RLP.decode(unsigned(eip1559).subarray(1)) as Uint8Array[];
  fields[2] = Uint8Array.of(11); // maxPriorityFeePerGas above maxFeePerGas (10)
  refusal(t, Uint8Array.of(0x02, ...RLP.encode(fields)), 'unsigned_transaction.maxPriorityFeePerGas', /exceed/);
});

test('a bad recipient length is refused', (t) => {
  const fields = RLP.decode(unsigned(eip1559).subarray(1)) as Uint8Array[];
  fields[5] = new Uint8Array(19);
  refusal(t, Uint8Array.of(0x02, ...RLP.encode(fields)), 'unsigned_transaction.to', /20-byte/);
});

test('deep nesting is INVALID_FIELD, not a crash', (t) => {
  const depth = 100_000;
  const nested = new Uint8Array(depth * 4);
  let offset = 0;
  // Each level is a long list whose 3-byte length covers the rest.
  for (let i = 0; i < depth; i++) {
    const rest = (depth - i - 1) * 4;
    nested.set([0xfa, (rest >> 16) & 0xff, (rest >> 8) & 0xff, rest & 0xff], offset);
    offset += 4;
  }
  const error = t.throws(() => decodeUnsignedTransaction(nested), { instanceOf: SignerError });
  t.is(error?.code, 'INVALID_FIELD');
});

test('lists nested deeper than 16 are refused before decoding (regression: 64000 levels took 2 s of CPU)', (t) => {
  // 64000 canonically nested empty lists, 234 kB: under the default gRPC message limit.
  const depth = 64_000;
  const headers: number[][] = [];
  for (let length = 0, i = 0; i < depth; i++) {
    const header = length < 56 ? [0xc0 + length] : [0xf7 + 3, (length >> 16) & 0xff, (length >> 8) & 0xff, length & 0xff];
    headers.push(header);
    length += header.length;
  }
  for (const payload of [Uint8Array.from(headers.reverse().flat()), Uint8Array.of(0x02, ...RLP.encode([[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]))]) {
    refusal(t, payload, 'unsigned_transaction', /lists nest deeper than 16/);
  }
});

test('an access list (lists four deep) still decodes', (t) => {
  const accessList = [{ address: '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed', storageKeys: ['0x' + '01'.repeat(32)] }];
  const { transaction } = decodeUnsignedTransaction(unsigned({ ...eip1559, accessList }));
  t.deepEqual(transaction.accessList, [{ address: accessList[0]!.address.toLowerCase(), storageKeys: accessList[0]!.storageKeys }]);
});

const uint = (max: bigint) => fc.bigInt({ min: 0n, max });
const address = fc.uint8Array({ minLength: 20, maxLength: 20 }).map((b) => hexlify(b));

test('property: the decoded fields are exactly what ethers serialized', (t) => {
  fc.assert(
    fc.property(
      fc.record({
        type: fc.constantFrom(0, 1, 2),
        chainId: fc.bigInt({ min: 1n, max: 2n ** 64n - 1n }),
        nonce: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        gasLimit: uint(2n ** 64n),
        gasPrice: uint(2n ** 256n - 1n),
        maxPriorityFeePerGas: uint(2n ** 128n),
        maxFeePerGas: uint(2n ** 256n - 1n),
        to: fc.option(address, { nil: null }),
        value: uint(2n ** 256n - 1n),
        data: fc.uint8Array({ maxLength: 200 }).map((b) => hexlify(b)),
      }),
      (generated) => {
        // EIP-1559 requires maxPriorityFeePerGas <= maxFeePerGas.
        const fields = { ...generated, maxPriorityFeePerGas: generated.maxPriorityFeePerGas % (generated.maxFeePerGas + 1n) };
        const legacyLike = fields.type !== 2;
        const tx = Transaction.from({
          ...fields,
          ...(legacyLike ? { maxFeePerGas: null, maxPriorityFeePerGas: null } : { gasPrice: null }),
        });
        const { transaction } = decodeUnsignedTransaction(getBytes(tx.unsignedSerialized));
        t.is(transaction.type, (['legacy', 'eip2930', 'eip1559'] as const)[fields.type]!);
        t.is(transaction.chainId, fields.chainId);
        t.is(transaction.nonce, BigInt(fields.nonce));
        t.is(transaction.gasLimit, fields.gasLimit);
        t.is(transaction.to, fields.to === null ? null : fields.to.toLowerCase());
        t.is(transaction.value, fields.value);
        t.is(hexlify(transaction.data), fields.data);
        if (legacyLike) t.is(transaction.gasPrice, fields.gasPrice);
        else {
          t.is(transaction.maxFeePerGas, fields.maxFeePerGas);
          t.is(transaction.maxPriorityFeePerGas, fields.maxPriorityFeePerGas);
        }
      },
    ),
    { numRuns: 300 },
  );
});

test('property: random bytes are a valid transaction or INVALID_FIELD, never another error', (t) => {
  const valid = unsigned(eip1559);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: valid.length - 1 }), fc.integer({ min: 0, max: 255 }), (random, at, byte) => {
      const mutated = Uint8Array.from(valid);
      mutated[at] = byte;
      for (const input of [random, mutated]) {
        try {
          decodeUnsignedTransaction(input);
        } catch (error) {
          if (!(error instanceof SignerError) || error.code !== 'INVALID_FIELD') throw error;
        }
      }
    }),
    { numRuns: 2000 },
  );
  t.pass();
});
