/**
 * Amounts as people write them ("1.5 ether", "20 gwei", "50000 USDC") and as bigints in the
 * smallest unit. Never floating point: a decimal string is split and scaled as integers.
 */

/** Native units and their decimals. Token symbols are added per policy with their declared decimals. */
export const NATIVE_UNITS: Readonly<Record<string, number>> = { wei: 0, gwei: 9, ether: 18 };

const AMOUNT = /^(0|[1-9][0-9]*)(?:\.([0-9]+))? ([A-Za-z][A-Za-z0-9]*)$/;
export const MAX_UINT256 = (1n << 256n) - 1n;

/**
 * Parses "<decimal> <unit>". Throws a message (without the field name) if it is not one; every
 * message quotes the text, so that the problem is plain even where the field is not named.
 */
export function parseAmount(text: string, units: Readonly<Record<string, number>>): bigint {
  const got = `(got ${JSON.stringify(text)})`;
  const match = AMOUNT.exec(text);
  if (!match) throw new Error(`must be a decimal amount and a unit, like "1.5 ether" or "20 gwei" ${got}`);
  const [, whole, fraction = '', unit] = match;
  const decimals = Object.hasOwn(units, unit!) ? units[unit!] : undefined;
  if (decimals === undefined) throw new Error(`has unknown unit "${unit}" (known: ${Object.keys(units).join(', ')}) ${got}`);
  if (fraction.length > decimals) throw new Error(`has more decimal places than ${unit} allows (${decimals}) ${got}`);
  const value = BigInt(whole!) * 10n ** BigInt(decimals) + BigInt(fraction.padEnd(decimals, '0') || '0');
  if (value > MAX_UINT256) throw new Error(`is larger than 2^256 - 1 ${got}`);
  return value;
}

/** Formats a smallest-unit amount for people: 1500000000000000000n, 18, "ether" -> "1.5 ether". */
export function formatAmount(value: bigint, decimals: number, unit: string): string {
  const negative = value < 0n;
  const abs = negative ? -value : value;
  const scale = 10n ** BigInt(decimals);
  const fraction = decimals > 0 ? (abs % scale).toString().padStart(decimals, '0').replace(/0+$/, '') : '';
  return `${negative ? '-' : ''}${abs / scale}${fraction ? '.' + fraction : ''} ${unit}`;
}

/** Native amounts in wei, shown in ether. */
export const formatEther = (wei: bigint) => formatAmount(wei, 18, 'ether');

/** Durations in policy files: "90s", "15m", "1h", "24h", "7d". */
export function parseDuration(text: string): number {
  const match = /^([1-9][0-9]*)(ms|s|m|h|d)$/.exec(text);
  if (!match) throw new Error(`must be a duration like "30s", "15m", "1h" or "7d" (got ${JSON.stringify(text)})`);
  const unitMs = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  const ms = Number(match[1]) * unitMs;
  // Longer would overflow dates (a JWT version's retirement, a window's start) and means nothing here.
  if (!(ms <= MAX_DURATION_MS)) throw new Error(`must be at most 100 years, "36500d" (got ${JSON.stringify(text)})`);
  return ms;
}

const MAX_DURATION_MS = 36_500 * 86_400_000;
