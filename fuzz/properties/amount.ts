import fc from 'fast-check';
import { parseUnits } from 'ethers';
import { MAX_UINT256, formatAmount, parseAmount } from '../../src/domain/amount.js';
import { loadPolicyText } from '../../src/policy/load.js';
import { check } from './refusal.js';

/**
 * Amounts in policy files ("1.5 ether", "50000 USDC"): every amount that fits in 256 bits reads
 * back exactly; anything else (2^256 and above, signs, exponents, hex, leading zeros, whitespace,
 * empty, too many decimals, unknown units) is refused with a message that quotes the exact text,
 * and in a policy file names the field and its line.
 */

const UNITS: Record<string, number> = { wei: 0, gwei: 9, ether: 18, USDC: 6, WBTC: 8, BIG: 36 };
const unit = fc.constantFrom(...Object.keys(UNITS));

const MISTAKES = {
  sign: (t) => '-' + t,
  plus: (t) => '+' + t,
  exponent: (t) => t.replace(' ', 'e3 '),
  hex: (t) => '0x' + t,
  leadingZero: (t) => '0' + t,
  space: (t) => ' ' + t,
  tab: (t) => t.replace(' ', '\t'),
  newline: (t) => t + '\n',
  doubleSpace: (t) => t.replace(' ', '  '),
  noUnit: (t) => t.split(' ')[0]!,
  noNumber: (t) => t.split(' ')[1] ?? t,
  moreDecimals: (t) => t.replace(' ', t.includes('.') ? '1 ' : '.' + '0'.repeat(37) + '1 '),
  dot: (t) => t.replace(' ', '. '),
  comma: (t) => t.replace('.', ','),
  case: (t) => t.toUpperCase(),
  underscore: (t) => t.replace(/(\d)(\d)/, '$1_$2'),
  empty: () => '',
  inheritedUnit: (t) => t.replace(/ [A-Za-z]+$/, ' constructor'),
} satisfies Record<string, (text: string) => string>;

/** Amounts people write, sometimes right, sometimes with one of the mistakes above. */
export const amountText: fc.Arbitrary<string> = fc
  .tuple(
    fc.oneof(fc.bigInt({ min: 0n, max: MAX_UINT256 }), fc.constantFrom(0n, 1n, MAX_UINT256, MAX_UINT256 + 1n, 2n ** 300n), fc.bigInt({ min: 0n, max: 10n ** 30n })),
    unit,
    fc.array(fc.constantFrom(...(Object.keys(MISTAKES) as Array<keyof typeof MISTAKES>)), { maxLength: 2 }),
  )
  .map(([value, symbol, mistakes]) => {
    let text = formatAmount(value, UNITS[symbol]!, symbol);
    for (const mistake of mistakes) text = MISTAKES[mistake](text);
    return text;
  });

/** The exact value of an accepted amount, computed by ethers rather than by us. */
function expected(text: string): bigint {
  const [number, symbol] = text.split(' ');
  return parseUnits(number!, UNITS[symbol!]!);
}

export const amountProperties = {
  'every amount below 2^256 reads back exactly': fc.property(fc.bigInt({ min: 0n, max: MAX_UINT256 }), unit, (value, symbol) => {
    check(parseAmount(formatAmount(value, UNITS[symbol]!, symbol), UNITS) === value, 'formatAmount and parseAmount disagree');
  }),
  'an amount is its exact value or an error quoting it': fc.property(amountText, (text) => {
    let value: bigint;
    try {
      value = parseAmount(text, UNITS);
    } catch (error) {
      check(error instanceof Error && error.message.includes(JSON.stringify(text)), `the error does not quote ${JSON.stringify(text)}: ${(error as Error).message}`);
      return;
    }
    check(value <= MAX_UINT256, `accepted ${text}, above 2^256 - 1`);
    check(value === expected(text), `read ${text} as ${value}`);
  }),
  'in a policy file, a bad amount names the file, line and field': fc.property(amountText, fc.boolean(), (text, inToken) => {
    const field = inToken ? 'tokens.0.max_amount' : 'ethereum_transactions.max_value';
    const yaml = `key: k
tokens:
  - { symbol: USDC, address: "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48", decimals: 6, max_amount: ${JSON.stringify(inToken ? text : '1 USDC')} }
ethereum_transactions:
  chain_ids: [1]
  recipients: { allow: any }
  max_value: ${JSON.stringify(inToken ? '1 ether' : text)}
`;
    const { policy, problems } = loadPolicyText('a.yaml', Buffer.from(yaml));
    if (policy) {
      const read = inToken ? policy.tokens.get('0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48')!.maxAmount : policy.transactions!.maxValue;
      check(read === expected(text), `policy read ${text} as ${read}`);
      return;
    }
    const line = inToken ? 3 : 7;
    check(problems.length === 1 && problems[0]!.startsWith(`a.yaml:${line}: ${field}: `), `problems do not name ${field} on line ${line}: ${problems.join('; ')}`);
  }),
};
