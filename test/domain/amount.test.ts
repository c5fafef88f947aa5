import test from 'ava';
import { MAX_UINT256, parseAmount, parseDuration } from '../../src/domain/amount.js';

const UNITS = { wei: 0, gwei: 9, ether: 18, USDC: 6 };

test('amounts up to 2^256 - 1 read exactly, in any unit', (t) => {
  t.is(parseAmount(`${MAX_UINT256} wei`, UNITS), MAX_UINT256);
  t.is(parseAmount('115792089237316195423570985008687907853269984665640564039457.584007913129639935 ether', UNITS), MAX_UINT256);
  t.is(parseAmount('1.5 ether', UNITS), 1_500_000_000_000_000_000n);
  t.is(parseAmount('0.000001 USDC', UNITS), 1n);
  t.is(parseAmount('1.000000 USDC', UNITS), 1_000_000n); // trailing zeros up to the token's decimals
  t.is(parseAmount('0 wei', UNITS), 0n);
});

/** The error for `text`: it must quote the text exactly, so the value at fault is plain. */
function refusal(t: import('ava').ExecutionContext, text: string, message: RegExp): void {
  const error = t.throws(() => parseAmount(text, UNITS));
  t.regex(error?.message ?? '', message, text);
  t.true(error?.message.includes(`(got ${JSON.stringify(text)})`), `${error?.message} does not quote ${JSON.stringify(text)}`);
}

test('2^256 and above are refused, one unit past the limit included', (t) => {
  refusal(t, `${MAX_UINT256 + 1n} wei`, /larger than 2\^256 - 1/);
  refusal(t, '115792089237316195423570985008687907853269984665640564039457.584007913129639936 ether', /larger than 2\^256 - 1/);
  refusal(t, `${2n ** 300n} wei`, /larger than 2\^256 - 1/);
});

test('negative, signed, exponent and hex amounts are refused', (t) => {
  for (const text of ['-1 ether', '+1 ether', '-0 wei', '1e18 wei', '1E3 gwei', '1.5e3 gwei', '0x01 wei', '0x1 wei', '0X10 gwei']) {
    refusal(t, text, /must be a decimal amount and a unit/);
  }
});

test('leading zeros, stray dots and separators are refused', (t) => {
  for (const text of ['01 ether', '00.5 ether', '00 wei', '1. ether', '.5 ether', '1,5 ether', '1_000 wei', '1.5.0 ether']) {
    refusal(t, text, /must be a decimal amount and a unit/);
  }
});

test('whitespace anywhere but the one space, and empty text, are refused', (t) => {
  for (const text of ['', ' ', ' 1 ether', '1 ether ', '1  ether', '1\tether', '1 ether\n', '\n1 ether', '1ether', '1 ', ' ether']) {
    refusal(t, text, /must be a decimal amount and a unit/);
  }
});

test('decimals beyond the unit are refused, naming the unit and its decimals', (t) => {
  refusal(t, '0.0000001 USDC', /more decimal places than USDC allows \(6\)/);
  refusal(t, '1.1 wei', /more decimal places than wei allows \(0\)/);
  refusal(t, '0.0000000001 gwei', /more decimal places than gwei allows \(9\)/);
});

test('unknown units are refused, Object members included (regression: "1 constructor" was a BigInt TypeError)', (t) => {
  refusal(t, '1 ETHER', /unknown unit "ETHER"/);
  refusal(t, '1 DAI', /unknown unit "DAI"/);
  for (const unit of ['constructor', 'toString', 'valueOf', 'hasOwnProperty']) refusal(t, `1 ${unit}`, new RegExp(`unknown unit "${unit}"`));
});

test('durations: units, and nothing past 100 years (a date must not overflow)', (t) => {
  t.is(parseDuration('90s'), 90_000);
  t.is(parseDuration('36500d'), 36_500 * 86_400_000);
  for (const text of ['36501d', '99999999999d', '999999999999999999999ms', '0s', '1.5h', '1 h', '']) {
    t.throws(() => parseDuration(text), { message: new RegExp(JSON.stringify(text).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) }, text);
  }
});
