import { invalidField } from '../domain/errors.js';

export interface StrictJsonOptions {
  /** Refuse numbers with a fraction or an exponent. */
  integersOnly?: boolean;
  /** Refuse objects and arrays nested deeper: JSON.stringify overflows the stack near 5000 levels. */
  maxDepth?: number;
  /** Refuse numbers above 2^53 in magnitude: JSON.parse rounds them silently (9007199254740993 becomes ...992). */
  exactNumbersOnly?: boolean;
  /** Member names refused at every depth (e.g. `__proto__`, which a verifier copying the object would turn into a prototype). */
  forbiddenKeys?: ReadonlySet<string>;
}

/**
 * JSON.parse, refusing what it would silently resolve: a key written twice in one object (it keeps
 * the last, so a person reading the text and the signer could see different values) and, with
 * `integersOnly`, numbers with a fraction or an exponent (`1e2`, `1.0`, `1.00000000000000001`
 * all become integers on the way in). The refusal names the member at fault: `field.path.to.key`.
 */
export function parseStrictJson(text: string, field: string, options: StrictJsonOptions = {}): unknown {
  const value = parseJson(text, field);
  checkStrictJson(text, field, options);
  return value;
}

/** JSON.parse alone. Its result may hide duplicate keys: use it only to refuse early, then call `checkStrictJson`. */
export function parseJson(text: string, field: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw invalidField(field, `is not valid JSON: ${(error as Error).message}`);
  }
}

/** The checks of `parseStrictJson` on text that JSON.parse accepted. */
export function checkStrictJson(text: string, field: string, options: StrictJsonOptions = {}): void {
  checkMembers(text, field, options);
}

const NUMBER = /-?\d+(\.\d+)?([eE][+-]?\d+)?/y;

type Container = { kind: 'object'; path: string; keys: Set<string>; key: string; awaitingKey: boolean } | { kind: 'array'; path: string; index: number };

/** One pass over text that JSON.parse accepted, without recursion (nesting depth is unbounded). */
function checkMembers(text: string, field: string, { integersOnly = false, maxDepth = Infinity, exactNumbersOnly = false, forbiddenKeys }: StrictJsonOptions): void {
  const stack: Container[] = [];
  const pathOfNextValue = () => {
    const top = stack[stack.length - 1];
    if (!top) return field;
    return top.kind === 'object' ? `${top.path}.${top.key}` : `${top.path}[${top.index}]`;
  };
  for (let at = 0; at < text.length; ) {
    const char = text[at]!;
    if (char === '"') {
      const end = endOfString(text, at);
      const top = stack[stack.length - 1];
      if (top?.kind === 'object' && top.awaitingKey) {
        const raw = text.slice(at + 1, end - 1);
        const key = raw.includes('\\') ? (JSON.parse(text.slice(at, end)) as string) : raw;
        if (forbiddenKeys?.has(key)) throw invalidField(`${top.path}.${key}`, `is a forbidden member name: ${JSON.stringify(key)} can rewrite a prototype in code that copies the object`);
        if (top.keys.has(key)) throw invalidField(`${top.path}.${key}`, `is a duplicate JSON key: ${JSON.stringify(key)} appears twice in one object`);
        top.keys.add(key);
        top.key = key;
        top.awaitingKey = false;
      }
      at = end;
      continue;
    }
    if (char === '-' || (char >= '0' && char <= '9')) {
      NUMBER.lastIndex = at;
      const number = NUMBER.exec(text)![0];
      if (integersOnly && /[.eE]/.test(number)) throw invalidField(pathOfNextValue(), `must be a whole number without a fraction or exponent (got ${number})`);
      if (exactNumbersOnly && exceedsSafeMagnitude(number)) {
        throw invalidField(pathOfNextValue(), `is above 2^53 in magnitude, where JSON numbers lose precision (got ${number.slice(0, 40)}): send it as a string`);
      }
      if (exactNumbersOnly && !roundTrips(number)) {
        throw invalidField(pathOfNextValue(), `is not exactly representable as a JSON number (got ${number.slice(0, 40)}): it would change when signed; send it as a string`);
      }
      at += number.length;
      continue;
    }
    const top = stack[stack.length - 1];
    if ((char === '{' || char === '[') && stack.length >= maxDepth) throw invalidField(pathOfNextValue(), `nests deeper than ${maxDepth} levels`);
    if (char === '{') stack.push({ kind: 'object', path: pathOfNextValue(), keys: new Set(), key: '', awaitingKey: true });
    else if (char === '[') stack.push({ kind: 'array', path: pathOfNextValue(), index: 0 });
    else if (char === '}' || char === ']') stack.pop();
    else if (char === ',' && top?.kind === 'object') top.awaitingKey = true;
    else if (char === ',' && top?.kind === 'array') top.index++;
    at++;
  }
}

/** The index just past the closing quote of the string that opens at `start`. */
function endOfString(text: string, start: number): number {
  let at = start + 1;
  while (text[at] !== '"') at += text[at] === '\\' ? 2 : 1;
  return at + 1;
}

const TWO_POW_53 = 2n ** 53n;

/** Whether the JSON number `text` is above 2^53 in magnitude, decided on its digits (Number() would round first). */
function exceedsSafeMagnitude(text: string): boolean {
  const [, whole = '', fraction = '', exponent = '0'] = /^-?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text)!;
  const digits = (whole + fraction).replace(/^0+/, '');
  if (digits === '') return false;
  // value = digits * 10^scale
  const scale = Number(exponent) - fraction.length;
  const magnitude = digits.length - 1 + scale; // floor(log10(value))
  if (magnitude >= 16) return true; // >= 10^16 > 2^53
  if (magnitude < 15) return false; // < 10^15 < 2^53
  return scale >= 0 ? BigInt(digits) * 10n ** BigInt(scale) > TWO_POW_53 : BigInt(digits) > TWO_POW_53 * 10n ** BigInt(-scale);
}

/** Whether the number `text` means exactly what it becomes once parsed (1e-400 becomes 0; 0.1000000000000000055 becomes 0.1). */
function roundTrips(text: string): boolean {
  return normalisedNumber(text) === normalisedNumber(JSON.stringify(Number(text)));
}

/** A canonical form of a decimal literal, "digits e scale" without leading or trailing zeros; every zero is "0". */
function normalisedNumber(text: string): string {
  const [, sign = '', whole = '', fraction = '', exponent = '0'] = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text)!;
  let digits = (whole + fraction).replace(/^0+/, '');
  if (digits === '') return '0';
  let scale = BigInt(exponent) - BigInt(fraction.length);
  const trailing = digits.length - digits.replace(/0+$/, '').length;
  digits = digits.slice(0, digits.length - trailing);
  scale += BigInt(trailing);
  return `${sign}${digits}e${scale}`;
}
