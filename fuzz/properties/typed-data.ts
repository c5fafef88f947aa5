import fc from 'fast-check';
import { TypedDataEncoder, concat, getAddress, hexlify, keccak256, type TypedDataField } from 'ethers';
import { decodeTypedData, type DecodedTypedData } from '../../src/schemes/ethereum/eip712.js';
import { evaluate } from '../../src/policy/evaluate.js';
import { summarizeIntent } from '../../src/audit/intent-summary.js';
import { describeForApprovers } from '../../src/approvals/describe.js';
import { assertClearRefusal, check, decodedOrRefused } from './refusal.js';
import { FUZZ_POLICIES, FUZZ_PRIMARY_TYPES, FUZZ_TOKEN } from './fuzz-policy.js';

/**
 * EIP-712 JSON: random schemas with values that fit them (checked against ethers' encoder), then
 * mutated: undeclared and missing members, out-of-range integers, bytesN of the wrong length,
 * wrong JSON types, recursive and malformed type strings, huge arrays, deep nesting, and
 * duplicate JSON keys. Every input must be refused with INVALID_FIELD or hash like ethers does.
 */

type Types = Record<string, TypedDataField[]>;
export interface TypedDataDoc {
  types: Types;
  primaryType: string;
  domain: Record<string, unknown>;
  message: Record<string, unknown>;
}

const PERMIT2 = '0x000000000022d473030f116ddee9f6b43ac78ba3';
const INT_BITS = [8, 16, 32, 64, 128, 160, 256];
const ATOMIC = ['bool', 'address', 'string', 'bytes', 'bytes1', 'bytes4', 'bytes20', 'bytes32', ...INT_BITS.flatMap((n) => [`uint${n}`, `int${n}`])];
const identifier = fc.stringMatching(/^[a-z][A-Za-z0-9_]{0,7}$/);

/** A schema: struct 0 is the primary type; struct i refers only to structs after it, each referred to at least once. */
const schema: fc.Arbitrary<{ types: Types; primaryType: string }> = fc
  .tuple(
    fc.shuffledSubarray(FUZZ_PRIMARY_TYPES, { minLength: 1, maxLength: 4 }),
    fc.array(fc.tuple(identifier, fc.nat(), fc.constantFrom('', '', '[]', '[1]', '[2]', '[][]')), { maxLength: 12 }),
  )
  .map(([names, members]) => {
    const types: Types = Object.fromEntries(names.map((name) => [name, []]));
    const add = (owner: string, name: string, type: string) => {
      if (!types[owner]!.some((m) => m.name === name)) types[owner]!.push({ name, type });
    };
    // Each later struct is referenced by an earlier one, so all are reachable from the primary.
    names.forEach((name, i) => i > 0 && add(names[(i * 7) % i]!, `ref${i}`, name));
    for (const [name, pick, suffix] of members) {
      const owner = pick % names.length;
      const later = names.slice(owner + 1);
      const base = [...ATOMIC, ...later][pick % (ATOMIC.length + later.length)]!;
      add(names[owner]!, name, base + suffix);
    }
    return { types, primaryType: names[0]! };
  });

const bits = (type: string) => Number(/\d+$/.exec(type)![0]);

/** Integers written every way the decoder accepts: numbers, decimal strings and hex strings. */
function integer(min: bigint, max: bigint): fc.Arbitrary<unknown> {
  const edge = fc.constantFrom(min, max, 0n, min + 1n > max ? max : min + 1n, max - 1n < min ? min : max - 1n);
  return fc.tuple(fc.oneof(edge, fc.bigInt({ min, max })), fc.nat(2)).map(([n, how]) => {
    if (how === 0 && n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(n);
    if (how === 1 && n >= 0n) return '0x' + n.toString(16);
    return n.toString();
  });
}

const hexBytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max }).map((b) => hexlify(b));
const address = fc.oneof(hexBytes(20, 20), hexBytes(20, 20).map((a) => getAddress(a)), fc.constantFrom(FUZZ_TOKEN, PERMIT2));

/** A value that fits `type`. */
function valueOf(type: string, types: Types): fc.Arbitrary<unknown> {
  const array = /^(.*)\[(\d*)\]$/.exec(type);
  if (array) {
    const length = array[2] === '' ? undefined : Number(array[2]);
    return fc.array(valueOf(array[1]!, types), { minLength: length ?? 0, maxLength: length ?? 3 });
  }
  const members = types[type];
  if (members) return fc.record(Object.fromEntries(members.map((m) => [m.name, valueOf(m.type, types)])));
  if (type === 'bool') return fc.boolean();
  if (type === 'address') return address;
  if (type === 'string') return fc.string({ unit: 'grapheme', maxLength: 20 });
  if (type === 'bytes') return hexBytes(0, 40);
  if (type.startsWith('bytes')) return hexBytes(bits(type), bits(type));
  const n = BigInt(bits(type));
  return type.startsWith('u') ? integer(0n, (1n << n) - 1n) : integer(-(1n << (n - 1n)), (1n << (n - 1n)) - 1n);
}

const domain = fc.record(
  {
    name: fc.oneof(fc.constant('USD Coin'), fc.string({ unit: 'grapheme', maxLength: 12 })),
    version: fc.constantFrom('1', '2'),
    chainId: fc.oneof(fc.constantFrom(1, 137, '1', '0x1'), integer(0n, (1n << 256n) - 1n)),
    verifyingContract: address,
    salt: hexBytes(32, 32),
  },
  { requiredKeys: [] },
);

/** Typed data whose values fit its types. */
export const validTypedData: fc.Arbitrary<TypedDataDoc> = fc
  .tuple(schema, domain)
  .chain(([{ types, primaryType }, domain]) =>
    (valueOf(primaryType, types) as fc.Arbitrary<Record<string, unknown>>).map((message) => ({ types, primaryType, domain, message })),
  );

/** The digest computed by ethers, with types reachable from each root (ethers wants one root per call). */
export function ethersDigest(doc: TypedDataDoc): string {
  const declaredDomain = doc.types.EIP712Domain;
  const domainSeparator = declaredDomain
    ? TypedDataEncoder.hashStruct('EIP712Domain', reachable(doc.types, 'EIP712Domain'), doc.domain)
    : TypedDataEncoder.hashDomain(doc.domain);
  const messageHash = TypedDataEncoder.hashStruct(doc.primaryType, reachable(doc.types, doc.primaryType), doc.message);
  return keccak256(concat(['0x1901', domainSeparator, messageHash]));
}

/** The number literals of JSON text (outside strings), sorted; -0 is 0. */
function numbersIn(json: string): string {
  const literals = json.replace(/"(?:[^"\\]|\\.)*"/g, '""').match(/-?\d+(\.\d+)?([eE][+-]?\d+)?/g) ?? [];
  return literals.map((n) => (n === '-0' ? '0' : n)).sort().join(' ');
}

export function isRecursive(types: Types, root: string): boolean {
  const visiting = new Set<string>();
  const visit = (name: string): boolean => {
    if (!Object.hasOwn(types, name)) return false;
    if (visiting.has(name)) return true;
    visiting.add(name);
    const found = types[name]!.some((member) => visit(member.type.replace(/(\[\d*\])+$/, '')));
    visiting.delete(name);
    return found;
  };
  return visit(root);
}

function reachable(types: Types, root: string): Types {
  const found: Types = {};
  const visit = (name: string) => {
    if (Object.hasOwn(found, name) || !Object.hasOwn(types, name)) return;
    found[name] = types[name]!;
    for (const member of types[name]!) visit(member.type.replace(/(\[\d*\])+$/, ''));
  };
  visit(root);
  return found;
}

/** What must hold for typed data the decoder accepted. */
export function checkDecodedTypedData(text: string, decoded: DecodedTypedData): void {
  const doc = JSON.parse(text) as TypedDataDoc;
  // ethers cannot encode recursive types (EIP-712 allows them); everything else it must.
  if (!isRecursive(doc.types, doc.primaryType) && !isRecursive(doc.types, 'EIP712Domain')) {
    const expected = ethersDigest(doc);
    check(hexlify(decoded.digest) === expected, `digest ${hexlify(decoded.digest)} is not ethers' ${expected}`);
  }
  // The numbers hashed are the numbers the text spells (JSON.parse reads 1e2 and 1.0 as integers).
  check(numbersIn(JSON.stringify(doc)) === numbersIn(text), `the text's numbers ${numbersIn(text)} are not the ones decoded`);
  const intent = { scheme: 'eip712' as const, typedData: decoded.typedData };
  check(JSON.stringify(intent.typedData.message) === JSON.stringify(doc.message), 'policy would see another message than the JSON holds');
  for (const policies of FUZZ_POLICIES) {
    // A permit's name with another type is refused as a bad field, naming the type.
    const decision = decodedOrRefused(() => evaluate(policies, 'fuzz/key', intent));
    if (decision && decision.outcome !== 'deny') describeForApprovers(intent, decision.policy);
  }
  summarizeIntent(intent, decoded.digest);
}

const decodesOrRefuses = (text: string) => {
  const decoded = decodedOrRefused(() => decodeTypedData(text));
  if (decoded) checkDecodedTypedData(text, decoded);
};

// --- Mutations. A mutation picks a place in the document by index and puts raw JSON text there. ---

type JsonPath = Array<string | number>;

/** Every place in the document a value can be: objects' members and array items, under domain, message and types. */
function placesIn(value: unknown, path: JsonPath = [], out: JsonPath[] = []): JsonPath[] {
  out.push(path);
  if (Array.isArray(value)) value.forEach((item, i) => placesIn(item, [...path, i], out));
  else if (value && typeof value === 'object') for (const [key, item] of Object.entries(value)) placesIn(item, [...path, key], out);
  return out;
}

const MARK = '\u0000fuzz\u0000';

/** The document as JSON text, with the value at `path` replaced by `raw` (any text, even invalid JSON). */
function withRawAt(doc: unknown, path: JsonPath, raw: (current: unknown) => string): string {
  if (path.length === 0) return raw(doc);
  const copy = structuredClone(doc) as Record<string | number, unknown>;
  let parent: Record<string | number, unknown> = copy;
  for (const step of path.slice(0, -1)) parent = parent[step] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  const current = parent[last];
  parent[last] = MARK;
  return JSON.stringify(copy).replace(JSON.stringify(MARK), () => raw(current));
}

const deepArray = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
const deepObject = (depth: number) => '{"a":'.repeat(depth) + '0' + '}'.repeat(depth);

/** Values no field should take as they are, and some it should, as raw JSON text. */
const badValue: fc.Arbitrary<string> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc.string({ unit: fc.oneof(fc.constantFrom('\ud800', '\udbff', '\udc00', '\udfff', '\ufffd', '\u0000'), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })), maxLength: 6 }).map((v) => JSON.stringify(v)),
  fc.constantFrom(...INT_BITS).chain((n) =>
    fc.constantFrom(
      String(2n ** BigInt(n)),
      `"${2n ** BigInt(n)}"`,
      `"${2n ** BigInt(n) - 1n}"`,
      `"-${2n ** BigInt(n - 1) + 1n}"`,
      `"-${2n ** BigInt(n - 1)}"`,
      `"0x${(2n ** BigInt(n)).toString(16)}"`,
      `"0x${'0'.repeat(70)}1"`,
    ),
  ),
  fc.constantFrom(
    '-1', '"-1"', '1.5', '1e3', '"1e3"', '1E2', '-0', '1.0', '1.00000000000000001', '9007199254740993', '1e400', '"0x"', '"0X1"', '"0x0001"',
    '" 1"', '"1 "', '"+1"', '"01"', '""', 'null', 'true', '"true"', '[]', '{}', '"\\ud800"', '"a\\udc00b"', '"\\u0000"', `"0x${'ab'.repeat(33)}"`,
    `"0x${'ab'.repeat(31)}"`, '"0xabc"', `"0x${'AB'.repeat(20)}"`, `"0x${'g'.repeat(40)}"`, `"${'x'.repeat(10_000)}"`,
  ),
  fc.integer({ min: 0, max: 66 }).chain((n) => fc.constantFrom(`"0x${'11'.repeat(n)}"`, `"0x${'1'.repeat(n)}"`)),
  fc.integer({ min: 1, max: 20_000 }).map((n) => `[${Array(n).fill('1').join(',')}]`),
  fc.integer({ min: 30, max: 50_000 }).map(deepArray),
  fc.integer({ min: 30, max: 20_000 }).map(deepObject),
);

/** Type strings the decoder must refuse or handle: bad widths, unknown and recursive types, odd arrays. */
const badType = (types: Types): fc.Arbitrary<string> =>
  fc.oneof(
    fc.constantFrom(
      'uint', 'int', 'uint0', 'uint7', 'uint264', 'int257', 'uint08', 'bytes0', 'bytes33', 'bytes01', 'byte', 'Uint256', 'address[0]', 'uint8[01]',
      'uint8[1000001]', 'string[2][3]', 'bool[][][]', 'EIP712Domain', 'constructor', '__proto__', 'toString', '', ' ', 'uint256 ', 'uint256[', '[]',
      'uint8' + '[]'.repeat(40), 'uint8' + '[]'.repeat(5_000) + '!', 'a'.repeat(5_000),
    ),
    fc.constantFrom(...Object.keys(types)).chain((name) => fc.constantFrom(name, `${name}[]`, `${name}[1]`, `${name}[][2]`)),
    fc.string({ maxLength: 12 }),
  );

type Mutation =
  | { kind: 'value'; place: number; raw: string }
  | { kind: 'addMember'; place: number; name: string; raw: string }
  | { kind: 'dropMember'; place: number }
  | { kind: 'type'; member: number; type: string }
  | { kind: 'domainType'; fields: TypedDataField[]; values: Record<string, unknown> };

/** A declared EIP712Domain, one standard field perhaps of another type, and domain values that fit it. */
const declaredDomain: fc.Arbitrary<{ fields: TypedDataField[]; values: Record<string, unknown> }> = fc
  .subarray([
    { name: 'name', type: 'string' },
    { name: 'version', type: 'string' },
    { name: 'chainId', type: 'uint256' },
    { name: 'verifyingContract', type: 'address' },
    { name: 'salt', type: 'bytes32' },
  ])
  .chain((fields) =>
    fc.tuple(fc.nat(), fc.constantFrom('string', 'uint8', 'int256', 'bool', 'bytes', 'bytes32', 'address', 'uint256[]', 'string[]')).chain(([at, type]) => {
      const changed = fields.map((f, i) => (i === at % Math.max(fields.length, 1) ? { ...f, type } : f));
      return fc.record(Object.fromEntries(changed.map((f) => [f.name, valueOf(f.type, {})]))).map((values) => ({ fields: changed, values }));
    }),
  );

const mutation = (doc: TypedDataDoc): fc.Arbitrary<Mutation> =>
  fc.oneof(
    { weight: 5, arbitrary: fc.record({ kind: fc.constant('value' as const), place: fc.nat(), raw: badValue }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('addMember' as const), place: fc.nat(), name: fc.oneof(identifier, fc.string({ maxLength: 6 })), raw: badValue }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('dropMember' as const), place: fc.nat() }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('type' as const), member: fc.nat(), type: badType(doc.types) }) },
    { weight: 1, arbitrary: declaredDomain.map((d) => ({ kind: 'domainType' as const, ...d })) },
  );

function applyMutation(doc: TypedDataDoc, m: Mutation): string {
  const places = placesIn(doc);
  const objects = places.filter((p) => isObject(get(doc, p)));
  switch (m.kind) {
    case 'value':
      return withRawAt(doc, places[m.place % places.length]!, () => m.raw);
    case 'addMember': {
      const at = objects[m.place % objects.length]!;
      return withRawAt(doc, at, (object) => {
        const text = JSON.stringify(object);
        return `${text.slice(0, -1)}${text === '{}' ? '' : ','}${JSON.stringify(m.name)}:${m.raw}}`;
      });
    }
    case 'dropMember': {
      const members = places.filter((p) => p.length > 0 && typeof p[p.length - 1] === 'string');
      const at = members[m.place % members.length]!;
      const copy = structuredClone(doc);
      delete (get(copy, at.slice(0, -1)) as Record<string, unknown>)[at[at.length - 1] as string];
      return JSON.stringify(copy);
    }
    case 'type': {
      const members = objects.filter((p) => p[0] === 'types' && p.length === 3);
      if (members.length === 0) return JSON.stringify(doc);
      const copy = structuredClone(doc);
      (get(copy, members[m.member % members.length]!) as Record<string, unknown>).type = m.type;
      return JSON.stringify(copy);
    }
    case 'domainType':
      return JSON.stringify({ ...doc, types: { ...doc.types, EIP712Domain: m.fields }, domain: m.values });
  }
}

function get(value: unknown, path: JsonPath): unknown {
  return path.reduce<unknown>((node, step) => (node as Record<string | number, unknown>)[step], value);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Valid typed data with one to three mutations, as JSON text. */
export const mutatedTypedData: fc.Arbitrary<string> = validTypedData.chain((doc) =>
  fc.array(mutation(doc), { minLength: 1, maxLength: 3 }).map((mutations) => {
    let text = JSON.stringify(doc);
    for (const m of mutations) {
      let current: TypedDataDoc;
      try {
        current = JSON.parse(text) as TypedDataDoc;
      } catch {
        break; // already not JSON: later mutations need a document
      }
      if (!isObject(current) || !isObject(current.types)) break;
      text = applyMutation(current, m);
      // A huge or deeply nested value stays the last mutation: walking it again would overflow the stack here.
      if ('raw' in m && m.raw.length > 1000) break;
    }
    return text;
  }),
);

/**
 * Valid typed data with one member of one object written twice (same or another value, the key
 * spelled the same or with a \u escape). JSON.parse would keep the last; the decoder must refuse.
 */
export const duplicateKeyTypedData: fc.Arbitrary<{ text: string; key: string }> = validTypedData.chain((doc) => {
  const places = placesIn(doc).filter((p) => isObject(get(doc, p)) && Object.keys(get(doc, p) as object).length > 0);
  return fc.tuple(fc.nat(), fc.nat(), fc.boolean(), fc.oneof(fc.constant(undefined), badValue)).map(([pick, member, escaped, raw]) => {
    const at = places[pick % places.length]!;
    const object = get(doc, at) as Record<string, unknown>;
    const keys = Object.keys(object);
    const key = keys[member % keys.length]!;
    const spelled = escaped ? `"\\u${key.charCodeAt(0).toString(16).padStart(4, '0')}${JSON.stringify(key).slice(2)}` : JSON.stringify(key);
    const text = withRawAt(doc, at, (current) => {
      const json = JSON.stringify(current);
      return `${json.slice(0, -1)},${spelled}:${raw ?? JSON.stringify(object[key])}}`;
    });
    return { text, key };
  });
});

export const typedDataProperties = {
  'valid typed data hashes exactly as ethers does': fc.property(validTypedData, (doc) => {
    const text = JSON.stringify(doc);
    checkDecodedTypedData(text, decodeTypedData(text));
  }),
  'mutated typed data hashes like ethers or is INVALID_FIELD': fc.property(mutatedTypedData, decodesOrRefuses),
  'a duplicate JSON key is INVALID_FIELD naming the key': fc.property(duplicateKeyTypedData, ({ text, key }) => {
    try {
      decodeTypedData(text);
    } catch (error) {
      assertClearRefusal(error);
      // The type graph's bounds are checked first, on the value JSON.parse kept: a refusal for them is early, not wrong.
      const bounds = /must declare at most \d+ types|must have at most \d+ members|recursive types are refused|characters of type strings/;
      const forDuplicate = /duplicate/.test(error.message) && error.field!.endsWith(`.${key}`);
      check(forDuplicate || bounds.test(error.message), `refused, but not for the duplicate "${key}": ${error.message}`);
      return;
    }
    throw new Error(`the duplicate key "${key}" was accepted`);
  }),
  'random JSON is INVALID_FIELD': fc.property(
    fc.oneof(fc.json({ maxDepth: 4 }), fc.string({ maxLength: 40 }), fc.record({ types: fc.jsonValue(), primaryType: fc.jsonValue(), domain: fc.jsonValue(), message: fc.jsonValue() }).map((v) => JSON.stringify(v))),
    decodesOrRefuses,
  ),
};
