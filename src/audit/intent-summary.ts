import { bytesToHex } from '@noble/hashes/utils.js';
import type { SignIntent } from '../domain/intent.js';

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
      return JSON.stringify({ scheme: intent.scheme, primaryType: intent.typedData.primaryType, domain: intent.typedData.domain, digest });
    case 'bytes':
      return JSON.stringify({ scheme: intent.scheme, algorithm: intent.algorithm, messageBytes: intent.message.length });
    case 'jwt': {
      // Who the token is for and when it expires; never the whole token or its other claims.
      const { iss, sub, aud, exp, jti } = intent.claims;
      return JSON.stringify({ scheme: intent.scheme, iss, sub, aud, exp, jti, tokenBytes: intent.tokenBytes });
    }
  }
}
