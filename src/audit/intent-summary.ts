import { bytesToHex } from '@noble/hashes/utils.js';
import { sha256Hex } from '../domain/audit.js';
import type { SignIntent } from '../domain/intent.js';

/** Longest caller-supplied text kept in a summary (a domain's name, a type name). */
const MAX_TEXT = 64;
/** The EIP-712 domain fields kept in a summary; any others are only counted (all are in the hash). */
const DOMAIN_FIELDS = ['name', 'version', 'chainId', 'verifyingContract', 'salt'] as const;

/**
 * A short JSON description of what a request asks for, for the audit log: who gets how much of
 * what on which chain, and the digest that was signed. Never the raw payload.
 */
export function summarizeIntent(intent: SignIntent, signedInput: Uint8Array): string {
  const digest = signedInput.length <= 64 ? bytesToHex(signedInput) : undefined;
  switch (intent.scheme) {
    case 'ethereum_transaction': {
      const tx = intent.transaction;
      return JSON.stringify({
        scheme: intent.scheme,
        type: tx.type,
        chainId: tx.chainId.toString(),
        nonce: tx.nonce.toString(),
        to: tx.to,
        value: tx.value.toString(),
        selector: tx.data.length >= 4 ? '0x' + bytesToHex(tx.data.subarray(0, 4)) : null,
        dataBytes: tx.data.length,
        gasLimit: tx.gasLimit.toString(),
        feeCap: (tx.maxFeePerGas ?? tx.gasPrice ?? 0n).toString(),
        digest,
      });
    }
    case 'eip191':
      return JSON.stringify({ scheme: intent.scheme, messageBytes: intent.message.length, digest });
    case 'eip712':
      return JSON.stringify({
        scheme: intent.scheme,
        primaryType: clip(intent.typedData.primaryType),
        domain: summarizeDomain(intent.typedData.domain),
        domainHash: domainHash(intent.typedData.domain),
        digest,
      });
    case 'bytes':
      return JSON.stringify({ scheme: intent.scheme, algorithm: intent.algorithm, messageBytes: intent.message.length });
    case 'jwt': {
      // Who the token is for and when it expires; never the whole token or its other claims.
      const { iss, sub, aud, exp, jti } = intent.claims;
      return JSON.stringify({ scheme: intent.scheme, iss, sub, aud, exp, jti, tokenBytes: intent.tokenBytes });
    }
  }
}

/**
 * A typed-data domain in a few hundred bytes at most, whatever the caller sent (up to the message
 * limit): the standard fields, each clipped to MAX_TEXT characters, and how many other fields there
 * are. `domainHash` identifies the whole domain.
 */
export function summarizeDomain(domain: Record<string, unknown>): Record<string, string | number> {
  const summary: Record<string, string | number> = {};
  for (const field of DOMAIN_FIELDS) if (Object.hasOwn(domain, field)) summary[field] = clip(String(domain[field]));
  const others = Object.keys(domain).filter((field) => !(DOMAIN_FIELDS as readonly string[]).includes(field)).length;
  if (others > 0) summary.otherFields = others;
  return summary;
}

/** SHA-256 of the domain as JSON with its keys sorted at every level, hex: the same domain, the same hash. */
export function domainHash(domain: Record<string, unknown>): string {
  return sha256Hex(JSON.stringify(domain, (_key, value: unknown) => (isPlainObject(value) ? sortKeys(value) : value)));
}

/** At most MAX_TEXT characters, never ending inside a surrogate pair; "…" marks a cut. */
export function clip(text: string): string {
  if (text.length <= MAX_TEXT) return text;
  return text.slice(0, MAX_TEXT).replace(/[\uD800-\uDBFF]$/, '') + '…';
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function sortKeys(value: Record<string, unknown>): Record<string, unknown> {
  // No prototype: a field named "__proto__" stays a field.
  const sorted: Record<string, unknown> = Object.create(null);
  for (const key of Object.keys(value).sort()) sorted[key] = value[key];
  return sorted;
}
