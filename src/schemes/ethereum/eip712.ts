import { keccak_256 } from '@noble/hashes/sha3.js';
import { concatBytes, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { invalidField } from '../../domain/errors.js';
import { toChecksumAddress } from '../../domain/public-key.js';
import { checkStrictJson, parseJson } from '../strict-json.js';
import type { TypedData, TypedDataField } from '../../domain/intent.js';

/**
 * A strict EIP-712 encoder. Strict where libraries are lenient, so that what a reader of the JSON
 * sees is exactly what gets signed: every message field must be declared in `types` and every
 * declared field present; integers must be in range; booleans are booleans; hex has the exact length.
 */

export interface DecodedTypedData {
  typedData: TypedData;
  domainSeparator: Uint8Array;
  /** keccak256(0x1901 || domainSeparator || hashStruct(message)). */
  digest: Uint8Array;
}

const FIELD = 'typed_data';
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const LONE_SURROGATE = /\p{Surrogate}/u;
const MAX_DEPTH = 32;
// Bounds on the type graph, far above real use (Seaport's bulk orders: 5 types, 11 members, about 2 KB
// of type strings) and low enough that a request under the message limit is refused in a few ms:
// 64 mutually referencing types of 100 members once cost 270 ms of event loop in typeHash alone.
export const MAX_TYPES = 32;
export const MAX_MEMBERS = 64;
/** The sum over every declared type of its encoded type string (what typeHash hashes), in characters. */
export const MAX_ENCODED_TYPES_LENGTH = 32 * 1024;
// Longer type strings serve no purpose, and the array-suffix patterns below are quadratic in length.
const MAX_TYPE_LENGTH = 256;

// EIP-712 says the domain holds any of these fields, in this order, when the types do not declare it.
// A declared EIP712Domain may add fields, but these keep their types: policy reads them.
const DOMAIN_FIELDS: TypedDataField[] = [
  { name: 'name', type: 'string' },
  { name: 'version', type: 'string' },
  { name: 'chainId', type: 'uint256' },
  { name: 'verifyingContract', type: 'address' },
  { name: 'salt', type: 'bytes32' },
];

/** Parses and hashes EIP-712 JSON (`types`, `primaryType`, `domain`, `message`). */
export function decodeTypedData(json: string): DecodedTypedData {
  const parsed = parseJson(json, FIELD);
  // The type graph's size first, on JSON.parse's result: a hostile request is refused in the time
  // JSON.parse takes, before the strict pass and long before anything is hashed.
  checkTypeBounds(parsed);
  // EIP-712 has no fractional numbers: 1e2 or 1.0 would be read as integers the text does not spell.
  checkStrictJson(json, FIELD, { integersOnly: true });
  const typedData = checkShape(parsed);
  const types = withDomainType(typedData);
  checkTypes(types);
  if (typedData.primaryType === 'EIP712Domain') throw invalidField(`${FIELD}.primaryType`, 'must not be EIP712Domain');
  if (!types[typedData.primaryType]) {
    throw invalidField(`${FIELD}.primaryType`, `"${typedData.primaryType}" is not declared in types`);
  }
  const encoder = new Encoder(types);
  const domainSeparator = encoder.hashStruct('EIP712Domain', typedData.domain, `${FIELD}.domain`, 0);
  const messageHash = encoder.hashStruct(typedData.primaryType, typedData.message, `${FIELD}.message`, 0);
  const digest = keccak_256(concatBytes(Uint8Array.of(0x19, 0x01), domainSeparator, messageHash));
  return { typedData: { ...typedData, types }, domainSeparator, digest };
}

function checkShape(value: unknown): TypedData {
  if (!isObject(value)) throw invalidField(FIELD, 'must be a JSON object');
  for (const key of Object.keys(value)) {
    if (!['types', 'primaryType', 'domain', 'message'].includes(key)) throw invalidField(`${FIELD}.${key}`, 'is not an EIP-712 field');
  }
  const { types, primaryType, domain, message } = value;
  if (!isObject(types)) throw invalidField(`${FIELD}.types`, 'must be an object');
  if (typeof primaryType !== 'string') throw invalidField(`${FIELD}.primaryType`, 'must be a string');
  if (domain === undefined) throw invalidField(`${FIELD}.domain`, 'is required');
  if (!isObject(domain)) throw invalidField(`${FIELD}.domain`, 'must be an object');
  if (!isObject(message)) throw invalidField(`${FIELD}.message`, 'must be an object');
  return { types: types as TypedData['types'], primaryType, domain, message };
}

/** The declared EIP712Domain, or the one implied by the domain's fields. */
function withDomainType(typedData: TypedData): Record<string, TypedDataField[]> {
  // No prototype: a type named "constructor" or "toString" must not resolve to Object's members.
  const types: Record<string, TypedDataField[]> = Object.assign(Object.create(null), typedData.types);
  if (!Object.hasOwn(types, 'EIP712Domain')) {
    types.EIP712Domain = DOMAIN_FIELDS.filter((field) => Object.hasOwn(typedData.domain, field.name));
  }
  return types;
}

function checkTypes(types: Record<string, unknown>): void {
  const names = Object.keys(types);
  // With the implied EIP712Domain, one more than `checkTypeBounds` counted.
  if (names.length > MAX_TYPES) throw invalidField(`${FIELD}.types`, `must declare at most ${MAX_TYPES} types`);
  for (const name of names) {
    const field = `${FIELD}.types.${name}`;
    if (!IDENTIFIER.test(name) || isAtomic(name) || isDynamic(name)) throw invalidField(field, 'is not a valid struct name');
    const members = types[name];
    if (!Array.isArray(members)) throw invalidField(field, 'must be an array of {name, type}');
    const seen = new Set<string>();
    members.forEach((member: unknown, i) => {
      const at = `${field}[${i}]`;
      if (!isObject(member) || Object.keys(member).some((k) => k !== 'name' && k !== 'type')) {
        throw invalidField(at, 'must be {name, type}');
      }
      if (typeof member.name !== 'string' || !IDENTIFIER.test(member.name)) throw invalidField(`${at}.name`, 'is not a valid identifier');
      if (seen.has(member.name)) throw invalidField(`${at}.name`, `"${member.name}" is declared twice`);
      seen.add(member.name);
      if (typeof member.type !== 'string') throw invalidField(`${at}.type`, 'must be a string');
      if (member.type.length > MAX_TYPE_LENGTH) throw invalidField(`${at}.type`, `must be at most ${MAX_TYPE_LENGTH} characters`);
      const standard = name === 'EIP712Domain' && DOMAIN_FIELDS.find((f) => f.name === member.name);
      if (standard && member.type !== standard.type) throw invalidField(`${at}.type`, `must be ${standard.type} for the domain's ${standard.name}`);
      const base = baseType(member.type);
      if (!isAtomic(base) && !isDynamic(base) && !Object.hasOwn(types, base)) {
        throw invalidField(`${at}.type`, `"${member.type}" is not a known type`);
      }
      for (const match of member.type.matchAll(/\[(\d*)\]/g)) {
        if (match[1] !== '' && (match[1]!.startsWith('0') || Number(match[1]) > 1_000_000)) {
          throw invalidField(`${at}.type`, `"${member.type}" has a bad array length`);
        }
      }
    });
  }
}

/**
 * Refuses too many types, too many members, recursion and too much type string, looking only at what
 * is well formed enough to count: everything else is refused by the full checks that follow.
 */
function checkTypeBounds(value: unknown): void {
  if (!isObject(value) || !isObject(value.types)) return;
  const names = Object.keys(value.types);
  if (names.length > MAX_TYPES) throw invalidField(`${FIELD}.types`, `must declare at most ${MAX_TYPES} types (has ${names.length})`);
  const graph: Record<string, TypedDataField[]> = Object.create(null);
  for (const name of names) {
    const members = value.types[name];
    if (!Array.isArray(members)) continue;
    if (members.length > MAX_MEMBERS) throw invalidField(`${FIELD}.types.${name}`, `must have at most ${MAX_MEMBERS} members (has ${members.length})`);
    // A malformed member counts as an empty one, so that indexes in messages stay those of the request.
    graph[name] = members.map((m: unknown) =>
      isObject(m) && typeof m.name === 'string' && typeof m.type === 'string' && m.type.length <= MAX_TYPE_LENGTH ? { name: m.name, type: m.type } : { name: '', type: '' },
    );
  }
  checkTypeGraph(graph);
}

/**
 * Refuses recursive types (EIP-712 leaves cyclical data undefined; ethers refuses such types too) and
 * type sets whose encoded type strings add up to more than MAX_ENCODED_TYPES_LENGTH, before anything
 * is hashed. At most MAX_TYPES types of MAX_MEMBERS members: this is cheap.
 */
function checkTypeGraph(types: Record<string, TypedDataField[]>): void {
  const ownLength = (name: string) => name.length + 2 + types[name]!.reduce((sum, m, i) => sum + m.type.length + 1 + m.name.length + (i ? 1 : 0), 0);
  const dependencies = new Map<string, Set<string>>();
  const visiting = new Set<string>();
  const dependenciesOf = (name: string): Set<string> => {
    const known = dependencies.get(name);
    if (known) return known;
    visiting.add(name);
    const found = new Set<string>();
    types[name]!.forEach((member, i) => {
      const base = baseType(member.type);
      if (!Object.hasOwn(types, base)) return;
      if (visiting.has(base)) {
        throw invalidField(`${FIELD}.types.${name}[${i}].type`, `"${member.type}" refers back to ${base}: recursive types are refused`);
      }
      found.add(base);
      for (const dependency of dependenciesOf(base)) found.add(dependency);
    });
    visiting.delete(name);
    dependencies.set(name, found);
    return found;
  };
  let total = 0;
  for (const name of Object.keys(types)) {
    total += ownLength(name);
    for (const dependency of dependenciesOf(name)) total += ownLength(dependency);
    if (total > MAX_ENCODED_TYPES_LENGTH) {
      throw invalidField(`${FIELD}.types`, `encode to more than ${MAX_ENCODED_TYPES_LENGTH} characters of type strings in all (what typeHash hashes)`);
    }
  }
}

/** `Mail[2][]` -> `Mail`. */
function baseType(type: string): string {
  return type.replace(/(\[\d*\])+$/, '');
}

class Encoder {
  private readonly typeHashes = new Map<string, Uint8Array>();

  constructor(private readonly types: Record<string, TypedDataField[]>) {}

  hashStruct(type: string, value: unknown, field: string, depth: number): Uint8Array {
    return keccak_256(this.encodeData(type, value, field, depth));
  }

  private encodeData(type: string, value: unknown, field: string, depth: number): Uint8Array {
    if (depth > MAX_DEPTH) throw invalidField(field, `nests deeper than ${MAX_DEPTH}`);
    if (!isObject(value)) throw invalidField(field, `must be an object of type ${type}`);
    const members = this.types[type]!;
    const declared = new Set(members.map((m) => m.name));
    for (const key of Object.keys(value)) {
      if (!declared.has(key)) throw invalidField(`${field}.${key}`, `is not declared in type ${type}`);
    }
    const parts = [this.typeHash(type)];
    for (const member of members) {
      if (!Object.hasOwn(value, member.name)) throw invalidField(`${field}.${member.name}`, 'is required');
      parts.push(this.encodeValue(member.type, value[member.name], `${field}.${member.name}`, depth + 1));
    }
    return concatBytes(...parts);
  }

  private encodeValue(type: string, value: unknown, field: string, depth: number): Uint8Array {
    const array = /^(.*)\[(\d*)\]$/.exec(type);
    if (array) {
      const [, inner, length] = array;
      if (!Array.isArray(value)) throw invalidField(field, `must be an array (${type})`);
      if (length !== '' && value.length !== Number(length)) throw invalidField(field, `must have exactly ${length} items`);
      if (depth > MAX_DEPTH) throw invalidField(field, `nests deeper than ${MAX_DEPTH}`);
      return keccak_256(concatBytes(...value.map((item, i) => this.encodeValue(inner!, item, `${field}[${i}]`, depth + 1))));
    }
    if (this.types[type]) return this.hashStruct(type, value, field, depth);
    if (type === 'string') {
      if (typeof value !== 'string') throw invalidField(field, 'must be a string');
      // UTF-8 has no lone surrogates: the encoder would hash U+FFFD instead of what the JSON says.
      if (LONE_SURROGATE.test(value)) throw invalidField(field, 'must be valid Unicode (it has a lone surrogate)');
      return keccak_256(utf8ToBytes(value));
    }
    if (type === 'bytes') return keccak_256(hexValue(value, field));
    return encodeAtomic(type, value, field);
  }

  private typeHash(type: string): Uint8Array {
    let hash = this.typeHashes.get(type);
    if (!hash) {
      hash = keccak_256(utf8ToBytes(this.encodeType(type)));
      this.typeHashes.set(type, hash);
    }
    return hash;
  }

  /** `Primary(...)` followed by every referenced struct, sorted by name. */
  private encodeType(primary: string): string {
    const deps = new Set<string>();
    const visit = (type: string) => {
      for (const member of this.types[type]!) {
        const base = baseType(member.type);
        if (this.types[base] && !deps.has(base) && base !== primary) {
          deps.add(base);
          visit(base);
        }
      }
    };
    visit(primary);
    return [primary, ...[...deps].sort()]
      .map((name) => `${name}(${this.types[name]!.map((m) => `${m.type} ${m.name}`).join(',')})`)
      .join('');
  }
}

function encodeAtomic(type: string, value: unknown, field: string): Uint8Array {
  if (type === 'bool') {
    if (typeof value !== 'boolean') throw invalidField(field, 'must be true or false');
    return word(value ? 1n : 0n);
  }
  if (type === 'address') {
    if (typeof value !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(value)) throw invalidField(field, 'must be a 0x-prefixed 20-byte address');
    const hex = value.slice(2);
    const mixedCase = hex !== hex.toLowerCase() && hex !== hex.toUpperCase();
    if (mixedCase && toChecksumAddress(hex) !== value) throw invalidField(field, 'has a bad EIP-55 checksum');
    return word(BigInt(value));
  }
  const bytesN = /^bytes(\d+)$/.exec(type);
  if (bytesN) {
    const bytes = hexValue(value, field);
    if (bytes.length !== Number(bytesN[1])) throw invalidField(field, `must be exactly ${bytesN[1]} bytes`);
    return concatBytes(bytes, new Uint8Array(32 - bytes.length));
  }
  const integer = /^(u?)int(\d+)$/.exec(type)!;
  const unsigned = integer[1] === 'u';
  const bits = BigInt(integer[2]!);
  const n = integerValue(value, field);
  const min = unsigned ? 0n : -(1n << (bits - 1n));
  const max = unsigned ? (1n << bits) - 1n : (1n << (bits - 1n)) - 1n;
  if (n < min || n > max) throw invalidField(field, `is out of range for ${type}`);
  return word(BigInt.asUintN(256, n));
}

function isAtomic(type: string): boolean {
  if (type === 'bool' || type === 'address') return true;
  const bytesN = /^bytes([1-9]\d?)$/.exec(type);
  if (bytesN) return Number(bytesN[1]) <= 32;
  const integer = /^u?int([1-9]\d{0,2})$/.exec(type);
  return integer !== null && Number(integer[1]) <= 256 && Number(integer[1]) % 8 === 0;
}

function isDynamic(type: string): boolean {
  return type === 'string' || type === 'bytes';
}

/** Integers as JSON safe integers, decimal strings or 0x hex strings: never floats or exponents. */
function integerValue(value: unknown, field: string): bigint {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw invalidField(field, 'must be an integer (use a decimal string above 2^53)');
    return BigInt(value);
  }
  if (typeof value === 'string' && /^-?(0|[1-9]\d{0,79})$/.test(value)) return BigInt(value);
  if (typeof value === 'string' && /^0x[0-9a-fA-F]{1,64}$/.test(value)) return BigInt(value);
  throw invalidField(field, 'must be an integer: a number, a decimal string or a 0x hex string');
}

function hexValue(value: unknown, field: string): Uint8Array {
  if (typeof value !== 'string' || !/^0x([0-9a-fA-F]{2})*$/.test(value)) throw invalidField(field, 'must be 0x-prefixed hex bytes');
  return hexToBytes(value.slice(2));
}

function word(value: bigint): Uint8Array {
  return hexToBytes(value.toString(16).padStart(64, '0'));
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
