import test from 'ava';
import { TypedDataEncoder, hexlify } from 'ethers';
import { SignerError } from '../../src/domain/errors.js';
import { decodeTypedData } from '../../src/schemes/ethereum/eip712.js';
import { mutuallyReferencingTypedData } from '../helpers/typed-data-blowup.js';

const permit = {
  types: {
    Permit: [
      { name: 'owner', type: 'address' },
      { name: 'spender', type: 'address' },
      { name: 'value', type: 'uint256' },
      { name: 'nonce', type: 'uint256' },
      { name: 'deadline', type: 'uint256' },
    ],
  },
  primaryType: 'Permit',
  domain: { name: 'USD Coin', version: '2', chainId: 1, verifyingContract: '0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48' },
  message: {
    owner: '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed',
    spender: '0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359',
    value: '1000000000000000000000000',
    nonce: 0,
    deadline: '0xffffffff',
  },
};

const nested = {
  types: {
    Order: [
      { name: 'id', type: 'bytes32' },
      { name: 'amounts', type: 'int64[3]' },
      { name: 'items', type: 'Item[]' },
      { name: 'memo', type: 'bytes' },
      { name: 'urgent', type: 'bool' },
    ],
    Item: [
      { name: 'sku', type: 'string' },
      { name: 'tags', type: 'string[]' },
    ],
  },
  primaryType: 'Order',
  domain: { name: 'Shop', salt: '0x' + 'ab'.repeat(32) },
  message: {
    id: '0x' + '01'.repeat(32),
    amounts: [-5, '7', '-9223372036854775808'],
    items: [{ sku: 'a', tags: ['x', 'y'] }, { sku: 'b', tags: [] }],
    memo: '0xdeadbeef',
    urgent: true,
  },
};

for (const [name, data] of Object.entries({ permit, nested })) {
  test(`${name}: the digest equals ethers' TypedDataEncoder`, (t) => {
    t.is(hexlify(decodeTypedData(JSON.stringify(data)).digest), TypedDataEncoder.hash(data.domain, data.types, data.message));
  });
}

function refusal(t: import('ava').ExecutionContext, data: unknown, field: string, message?: RegExp): void {
  const error = t.throws(() => decodeTypedData(typeof data === 'string' ? data : JSON.stringify(data)), { instanceOf: SignerError });
  t.is(error?.code, 'INVALID_FIELD');
  t.is(error?.field, field);
  if (message) t.regex(error?.message ?? '', message);
}

test('a message field that types does not declare is refused', (t) => {
  refusal(t, { ...permit, message: { ...permit.message, extra: 1 } }, 'typed_data.message.extra', /not declared/);
  const items = [{ sku: 'a', tags: [], colour: 'red' }];
  refusal(t, { ...nested, message: { ...nested.message, items } }, 'typed_data.message.items[0].colour', /not declared/);
});

test('a declared field that is missing is refused', (t) => {
  const { deadline: _, ...message } = permit.message;
  refusal(t, { ...permit, message }, 'typed_data.message.deadline', /required/);
});

test('a missing domain is refused', (t) => {
  const { domain: _, ...rest } = permit;
  refusal(t, rest, 'typed_data.domain', /required/);
});

test('primaryType EIP712Domain is refused', (t) => {
  refusal(t, { ...permit, primaryType: 'EIP712Domain' }, 'typed_data.primaryType', /EIP712Domain/);
});

test('out-of-range integers, floats and loose types are refused', (t) => {
  refusal(t, { ...permit, message: { ...permit.message, value: '-1' } }, 'typed_data.message.value', /out of range/);
  refusal(t, { ...permit, message: { ...permit.message, value: (2n ** 256n).toString() } }, 'typed_data.message.value', /out of range/);
  refusal(t, { ...permit, message: { ...permit.message, nonce: 1.5 } }, 'typed_data.message.nonce', /whole number/);
  refusal(t, { ...permit, message: { ...permit.message, nonce: '1e3' } }, 'typed_data.message.nonce', /integer/);
  refusal(t, { ...nested, message: { ...nested.message, urgent: 'true' } }, 'typed_data.message.urgent');
  refusal(t, { ...nested, message: { ...nested.message, id: '0x01' } }, 'typed_data.message.id', /32 bytes/);
  refusal(t, { ...nested, message: { ...nested.message, amounts: [1, 2] } }, 'typed_data.message.amounts', /exactly 3/);
  refusal(t, { ...permit, message: { ...permit.message, owner: '0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed' } }, 'typed_data.message.owner', /checksum/);
});

test('unknown types, unknown top-level members and bad JSON are refused', (t) => {
  refusal(t, { ...permit, types: { Permit: [{ name: 'x', type: 'Unknown' }] } }, 'typed_data.types.Permit[0].type', /not a known type/);
  refusal(t, { ...permit, extra: {} }, 'typed_data.extra');
  refusal(t, '{"types":', 'typed_data', /JSON/);
  refusal(t, { ...permit, types: { Permit: [{ name: 'toString', type: 'constructor' }] } }, 'typed_data.types.Permit[0].type');
});

test('deeply nested values are refused, not a stack overflow', (t) => {
  const types = { Node: [{ name: 'next', type: 'uint8' + '[]'.repeat(100) }] };
  let value: unknown = [];
  for (let i = 0; i < 99; i++) value = [value];
  const error = t.throws(() => decodeTypedData(JSON.stringify({ types, primaryType: 'Node', domain: { name: 'x' }, message: { next: value } })), {
    instanceOf: SignerError,
  });
  t.is(error?.code, 'INVALID_FIELD');
  t.regex(error?.message ?? '', /nests deeper than 32/);
  t.true(error?.field?.startsWith('typed_data.message.next[0][0]'));
});

test('recursive types are refused, naming the member that closes the cycle (regression: they were hashed)', (t) => {
  const document = (types: object) => ({ types, primaryType: 'Node', domain: { name: 'x' }, message: { next: [] } });
  refusal(t, document({ Node: [{ name: 'next', type: 'Node[]' }] }), 'typed_data.types.Node[0].type', /refers back to Node: recursive types are refused/);
  const mutual = { Node: [{ name: 'next', type: 'Leaf[]' }], Leaf: [{ name: 'up', type: 'Node[2]' }] };
  refusal(t, document(mutual), 'typed_data.types.Leaf[0].type', /refers back to Node/);
});

test('the 64 types x 100 members mutually referencing request is refused, naming types (regression: 270 ms of event loop)', (t) => {
  const json = mutuallyReferencingTypedData();
  t.true(Buffer.byteLength(json) < 256 * 1024);
  refusal(t, json, 'typed_data.types', /at most 32 types \(has 64\)/);
  // Within the type count, the members and then the cycle are refused.
  refusal(t, mutuallyReferencingTypedData({ types: 16, members: 100 }), 'typed_data.types.Type0', /at most 64 members \(has 100\)/);
  refusal(t, mutuallyReferencingTypedData({ types: 16, members: 16 }), 'typed_data.types.Type15[0].type', /refers back to Type0/);
});

/** `count` struct types, each `members` uint256 members wide (names padded to `nameLength`), unused beside Mail. */
function withExtraTypes(count: number, members: number, nameLength = 1): object {
  const extra = Object.fromEntries(
    Array.from({ length: count }, (_, i) => [`Extra${i}`, Array.from({ length: members }, (_, j) => ({ name: `m${j}`.padEnd(nameLength, '_'), type: 'uint256' }))]),
  );
  return { ...permit, types: { ...permit.types, ...extra } };
}

test('type count: exactly 32 types (the implied EIP712Domain included) decode, one more is refused', (t) => {
  t.notThrows(() => decodeTypedData(JSON.stringify(withExtraTypes(30, 1))));
  refusal(t, withExtraTypes(31, 1), 'typed_data.types', /at most 32 types/);
  refusal(t, withExtraTypes(32, 1), 'typed_data.types', /at most 32 types \(has 33\)/);
});

test('members per type: exactly 64 decode, 65 are refused naming the type', (t) => {
  t.notThrows(() => decodeTypedData(JSON.stringify(withExtraTypes(1, 64))));
  refusal(t, withExtraTypes(1, 65), 'typed_data.types.Extra0', /at most 64 members \(has 65\)/);
});

test('encoded type strings: in all at most 32 KiB, counting each type with every type it refers to', (t) => {
  // 20 types of 64 members of 16-character names: about 28 KiB of type strings, under the limit...
  t.notThrows(() => decodeTypedData(JSON.stringify(withExtraTypes(20, 64, 16))));
  // ...and the same types chained (each refers to the next) repeat each other in every type string: far above.
  const chained = withExtraTypes(20, 64, 16) as { types: Record<string, Array<{ name: string; type: string }>> };
  for (let i = 0; i < 19; i++) chained.types[`Extra${i}`]![0] = { name: 'next'.padEnd(16, '_'), type: `Extra${i + 1}` };
  refusal(t, chained, 'typed_data.types', /more than 32768 characters of type strings/);
});

test('a duplicate JSON key is refused naming it (regression: JSON.parse kept the last one)', (t) => {
  const text = JSON.stringify(permit);
  const twice = (member: string, extra: string) => text.replace(`"${member}":`, `${extra},"${member}":`);
  refusal(t, twice('spender', '"spender":"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"'), 'typed_data.message.spender', /duplicate JSON key: "spender"/);
  // Written differently, the same key: JSON.parse reads both as "value".
  refusal(t, twice('value', '"\\u0076alue":"1"'), 'typed_data.message.value', /duplicate JSON key/);
  refusal(t, text.replace('"primaryType":', '"primaryType":"Mail","primaryType":'), 'typed_data.primaryType', /duplicate JSON key/);
  refusal(t, text.replace('{"name":"owner",', '{"name":"x","name":"owner",'), 'typed_data.types.Permit[0].name', /duplicate JSON key/);
});

test('numbers with a fraction or an exponent are refused (regression: 1e2 and 1.0 were read as integers)', (t) => {
  const text = JSON.stringify(permit);
  for (const number of ['1e2', '1E2', '1.0', '100.00000000000000001', '0.1e1']) {
    refusal(t, text.replace('"nonce":0', `"nonce":${number}`), 'typed_data.message.nonce', /whole number without a fraction or exponent/);
  }
  t.notThrows(() => decodeTypedData(text.replace('"nonce":0', '"nonce":100')));
});

test('a string with a lone surrogate is refused (regression: it was hashed as U+FFFD)', (t) => {
  refusal(t, { ...permit, domain: { ...permit.domain, name: 'USD \ud800Coin' } }, 'typed_data.domain.name', /lone surrogate/);
  refusal(t, { ...nested, message: { ...nested.message, items: [{ sku: '\udc00', tags: [] }] } }, 'typed_data.message.items[0].sku', /lone surrogate/);
  // A pair is one code point: fine.
  t.notThrows(() => decodeTypedData(JSON.stringify({ ...permit, domain: { ...permit.domain, name: 'USD \u{1F600}' } })));
});

test('a declared EIP712Domain keeps the standard types of standard fields (regression: chainId "abc" crashed policy)', (t) => {
  const domainTypes = (chainIdType: string) => ({
    ...permit.types,
    EIP712Domain: [
      { name: 'name', type: 'string' },
      { name: 'chainId', type: chainIdType },
    ],
  });
  refusal(t, { ...permit, types: domainTypes('string'), domain: { name: 'x', chainId: 'abc' } }, 'typed_data.types.EIP712Domain[1].type', /must be uint256/);
  refusal(t, { ...permit, types: domainTypes('uint256[]'), domain: { name: 'x', chainId: [1] } }, 'typed_data.types.EIP712Domain[1].type', /must be uint256/);
  // Extra domain fields are allowed (EIP-712 lets protocols add them).
  const extended = { ...permit, types: { ...domainTypes('uint256'), EIP712Domain: [...domainTypes('uint256').EIP712Domain, { name: 'extra', type: 'string' }] } };
  t.notThrows(() => decodeTypedData(JSON.stringify({ ...extended, domain: { name: 'x', chainId: 1, extra: 'y' } })));
});

test('type strings longer than 256 characters are refused (regression: 80 kB of "[]" took 10 s in a regex)', (t) => {
  const type = 'uint8' + '[]'.repeat(40_000) + '!';
  const started = performance.now();
  refusal(t, { ...permit, types: { Permit: [{ name: 'x', type }] }, message: { x: [] } }, 'typed_data.types.Permit[0].type', /at most 256 characters/);
  t.log(`refused in ${(performance.now() - started).toFixed(1)} ms`);
});
