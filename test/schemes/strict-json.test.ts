import test from 'ava';
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
