import test from 'ava';
import fc from 'fast-check';
import { SignerError } from '../../src/domain/errors.js';
import { parseStrictJson } from '../../src/schemes/strict-json.js';

function refusal(t: import('ava').ExecutionContext, text: string, field: string, message: RegExp, options = {}): void {
  const error = t.throws(() => parseStrictJson(text, 'doc', options), { instanceOf: SignerError });
  t.is(error?.code, 'INVALID_FIELD');
  t.is(error?.field, field);
  t.regex(error?.message ?? '', message);
}

test('parses what JSON.parse parses', (t) => {
  const text = '{"a":[1,{"b":"x,\\"y\\":"},[]],"c":{"a":1},"d":-0.5e-3,"e":null}';
  t.deepEqual(parseStrictJson(text, 'doc'), JSON.parse(text));
});

test('a duplicate key is refused with its path, however it is spelled', (t) => {
  refusal(t, '{"a":1,"a":2}', 'doc.a', /duplicate JSON key: "a"/);
  refusal(t, '{"a":1,"\\u0061":2}', 'doc.a', /duplicate JSON key/);
  refusal(t, '{"x":[{"k":1},{"k":1,"j":2,"k":3}]}', 'doc.x[1].k', /duplicate JSON key/);
  refusal(t, '{"o":{"p":{"q":1,"q":1}}}', 'doc.o.p.q', /duplicate JSON key/);
});

test('the same key in different objects, or inside strings, is not a duplicate', (t) => {
  t.notThrows(() => parseStrictJson('{"a":{"a":1},"b":[{"a":1},{"a":2}],"c":"\\"a\\":1,\\"a\\":2"}', 'doc'));
});

test('integersOnly refuses fractions and exponents, naming the member', (t) => {
  refusal(t, '{"a":[1,2,3e0]}', 'doc.a[2]', /whole number/, { integersOnly: true });
  refusal(t, '{"a":1.0}', 'doc.a', /got 1\.0/, { integersOnly: true });
  t.notThrows(() => parseStrictJson('{"a":[-1,0,12345678901234567890],"b":"1.5"}', 'doc', { integersOnly: true }));
});

test('maxDepth refuses deeper nesting, naming where it starts', (t) => {
  refusal(t, '{"a":[[1]]}', 'doc.a[0]', /nests deeper than 2 levels/, { maxDepth: 2 });
  t.notThrows(() => parseStrictJson('{"a":[1]}', 'doc', { maxDepth: 2 }));
  refusal(t, '['.repeat(100_000) + ']'.repeat(100_000), 'doc' + '[0]'.repeat(32), /nests deeper than 32/, { maxDepth: 32 });
});

test('invalid JSON is refused as before', (t) => {
  refusal(t, '{"a":', 'doc', /is not valid JSON/);
});

test('exactNumbersOnly refuses magnitudes above 2^53 on their digits, in any notation, and keeps the rest', (t) => {
  const exact = { exactNumbersOnly: true };
  for (const number of ['9007199254740993', '-9007199254740993', '9007199254740992.0000001', '90071992547409921e-1', '1e16', '0.9007199254740993e16', '1e999999999']) {
    refusal(t, `{"a":[${number}]}`, 'doc.a[0]', /above 2\^53/, exact);
  }
  for (const number of ['9007199254740992', '-9007199254740992', '900719925474099.2e1', '1e15', '0.5', '0e99', '-0', '1.50', '1.5e-7']) {
    t.notThrows(() => parseStrictJson(`{"a":[${number}]}`, 'doc', exact), number);
  }
  // A number that parses to another value is refused: it would be signed as that other value.
  for (const number of ['1e-400', '1e-999999999', '0.1000000000000000055511151231257827', '9007199254740991.9']) {
    refusal(t, `{"a":[${number}]}`, 'doc.a[0]', /not exactly representable/, exact);
  }
  // Digits inside strings are not numbers.
  t.notThrows(() => parseStrictJson('{"a":"12345678901234567890"}', 'doc', exact));
});

test('forbiddenKeys refuses a member name at any depth, however it is spelled', (t) => {
  const forbidden = { forbiddenKeys: new Set(['__proto__']) };
  refusal(t, '{"__proto__":{}}', 'doc.__proto__', /forbidden member name/, forbidden);
  refusal(t, '{"a":[{"b":{"\\u005f_proto__":1}}]}', 'doc.a[0].b.__proto__', /forbidden member name/, forbidden);
  t.notThrows(() => parseStrictJson('{"a":"__proto__","__proto__x":1}', 'doc', forbidden));
});

test('exactNumbersOnly (property): an integer, written plainly or with a fraction of zeros or an exponent, is refused exactly when above 2^53', (t) => {
  const limit = 2n ** 53n;
  fc.assert(
    fc.property(
      fc.oneof(fc.bigInt({ min: limit - 1000n, max: limit + 1000n }), fc.bigInt({ min: -limit - 1000n, max: -limit + 1000n }), fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n })),
      fc.nat({ max: 5 }),
      (n, shift) => {
        const digits = (n < 0n ? -n : n).toString();
        const sign = n < 0n ? '-' : '';
        // The same value three ways: 123, 123.000, 1.23e2 (as d.ddd e+k).
        const spellings = [`${sign}${digits}`, `${sign}${digits}.${'0'.repeat(shift + 1)}`, `${sign}${digits[0]}${digits.length > 1 ? `.${digits.slice(1)}` : ''}e${digits.length - 1}`];
        for (const text of spellings) {
          let refused = false;
          try {
            parseStrictJson(`[${text}]`, 'doc', { exactNumbersOnly: true });
          } catch {
            refused = true;
          }
          if (refused !== (n > limit || -n > limit)) throw new Error(`${text}: refused ${refused}`);
        }
      },
    ),
  );
  t.pass();
});
