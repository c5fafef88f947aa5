import type { SignRequest__Output } from '../api/generated/signer/v1/SignRequest.js';
import { formatAmount, formatEther } from '../domain/amount.js';
import { toChecksumAddress } from '../domain/public-key.js';
import { oneLine } from './terminal-text.js';

const CHAINS: Record<string, string> = {
  '1': 'Ethereum mainnet',
  '10': 'OP Mainnet',
  '137': 'Polygon',
  '8453': 'Base',
  '42161': 'Arbitrum One',
  '11155111': 'Sepolia',
};

export const chainName = (id: string) => (CHAINS[id] ? `${CHAINS[id]} (chain ${id})` : `chain ${id}`);

/** Every 0x address in a text, EIP-55 checksummed: the form wallets and block explorers show. */
export function checksumAddresses(text: string): string {
  return text.replace(/\b0x[0-9a-fA-F]{40}\b/g, (address) => toChecksumAddress(address.slice(2)));
}

/** One supplied value for a person: on one line, without control characters, addresses checksummed. */
const words = (value: unknown) => checksumAddresses(oneLine(String(value)));

/** A parked request in words: a short "what" and "how much" for tables, and every detail for show/approve. */
export interface RequestView {
  what: string;
  amount: string;
  details: Array<[string, string]>;
}

/** The request in words, from the service's summary of what it decoded (intent_json). */
export function viewRequest(r: SignRequest__Output): RequestView {
  const intent = parseIntent(r.intentJson);
  const said = ((intent.words as unknown[] | undefined) ?? []).map(words);
  const common: Array<[string, string]> = [
    ['key', words(r.keyName)],
    ['chain', chainName(words(r.chainId))],
    ['asked by', `${words(r.requester)} at ${words(r.createTime)}`],
    ['expires', `${words(r.expireTime)} (${until(r.expireTime)})`],
    ['approvals', words(r.progress) + r.approvals.map((a) => `; ${words(a.approverId)} ${words(a.verdict)}${a.reason ? ` ("${words(a.reason)}")` : ''}`).join('')],
  ];
  if (intent.scheme === 'ethereum_transaction') {
    const to = intent.to ? words(intent.to) : '(new contract)';
    const value = formatEther(bigintOf(intent.value));
    const feeCap = bigintOf(intent.feeCap);
    const gasLimit = bigintOf(intent.gasLimit);
    const call = intent.selector ? `calls ${words(intent.selector)} with ${words(intent.dataBytes)} bytes of calldata` : 'no calldata';
    return {
      what: said[0] ?? (intent.selector ? `call ${to}` : `send to ${to}`),
      amount: value,
      details: [
        ...said.map((line): [string, string] => ['request', line]),
        ['recipient', to],
        ['value', value],
        ['call', call],
        ['fees', `at most ${formatAmount(feeCap, 9, 'gwei')} per gas, gas limit ${gasLimit} (at most ${formatEther(feeCap * gasLimit)})`],
        ['transaction', `${words(intent.type)}, nonce ${words(intent.nonce)}`],
        ...common,
        ['digest', words(r.digest)],
      ],
    };
  }
  if (intent.scheme === 'eip712') {
    // Permits are in words from the service ("EIP-2612 allowance of 10 USDC for spender 0x…");
    // anything else is named by its type and domain, never shown as JSON.
    const permits = said.filter((line) => !line.startsWith('sign '));
    const domain = domainInWords((intent.domain ?? {}) as Record<string, unknown>);
    return {
      what: permits[0] ?? `sign ${words(intent.primaryType)}`,
      amount: '-',
      details: [
        ...permits.map((line): [string, string] => ['request', line]),
        ['typed data', `${words(intent.primaryType)} for ${domain}`],
        ...common,
        ['digest', words(r.digest)],
      ],
    };
  }
  return { what: words(intent.scheme ?? r.method), amount: '-', details: [...said.map((line): [string, string] => ['request', line]), ...common, ['digest', words(r.digest)]] };
}

/** "Permit2 (version 1, contract 0x…, chain 1)" for an EIP-712 domain. */
function domainInWords(domain: Record<string, unknown>): string {
  const parts = [
    domain.version !== undefined && `version ${words(domain.version)}`,
    domain.verifyingContract !== undefined && `contract ${words(domain.verifyingContract)}`,
    domain.chainId !== undefined && `chain ${words(domain.chainId)}`,
    domain.salt !== undefined && `salt ${words(domain.salt)}`,
  ].filter(Boolean);
  const name = domain.name !== undefined ? `"${words(domain.name)}"` : 'an unnamed domain';
  return parts.length ? `${name} (${parts.join(', ')})` : name;
}

function parseIntent(json: string): Record<string, unknown> {
  try {
    const value = JSON.parse(json || '{}') as unknown;
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function bigintOf(value: unknown): bigint {
  try {
    return BigInt(String(value ?? '0'));
  } catch {
    return 0n;
  }
}

/** "in 42m" or "expired 3m ago". */
export function until(iso: string, now = Date.now()): string {
  const ms = Date.parse(iso) - now;
  if (Number.isNaN(ms)) return 'unknown';
  const text = duration(Math.abs(ms));
  return ms >= 0 ? `in ${text}` : `expired ${text} ago`;
}

export function duration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  return seconds < 120 ? `${seconds}s` : seconds < 7200 ? `${Math.round(seconds / 60)}m` : `${Math.round(seconds / 3600)}h`;
}

/** A request for --json: the decoded summary as an object under `intent`, never a JSON string inside JSON. */
export function requestJson(r: SignRequest__Output): Record<string, unknown> {
  const { intentJson, ...rest } = r;
  return { ...rest, intent: parseIntent(intentJson) };
}
