/**
 * Stores a sign result for idempotent retries: JSON with bigints and byte arrays tagged, so that a
 * replayed reply is the exact reply the first call got.
 */
export function encodeResult(result: unknown): string {
  return JSON.stringify(result, function (this: Record<string, unknown>, key, value: unknown) {
    // `this[key]` is the value before toJSON: a Buffer has already become {type, data} in `value`.
    const original = this[key];
    if (typeof original === 'bigint') return { $bigint: original.toString() };
    if (original instanceof Uint8Array) return { $bytes: Buffer.from(original).toString('base64') };
    return value;
  });
}

export function decodeResult<T>(text: string): T {
  return JSON.parse(text, (_key, value: unknown) => {
    if (value && typeof value === 'object') {
      if ('$bigint' in value) return BigInt((value as { $bigint: string }).$bigint);
      if ('$bytes' in value) return new Uint8Array(Buffer.from((value as { $bytes: string }).$bytes, 'base64'));
    }
    return value;
  }) as T;
}

/** The HSM's at-rest encryption (Hsm.sealAtRest / openAtRest). */
export interface AtRestCipher {
  sealAtRest(plaintext: Uint8Array, aad: Uint8Array): Promise<Uint8Array>;
  openAtRest(sealed: Uint8Array, aad: Uint8Array): Promise<Uint8Array>;
}

/**
 * A result that is a bearer secret (a JWT) is stored sealed under the HSM's at-rest key, bound to
 * `aad` (the row it belongs to): the database alone never holds a token a verifier would accept.
 */
export async function encodeSealedResult(result: unknown, cipher: AtRestCipher, aad: string): Promise<string> {
  const sealed = await cipher.sealAtRest(Buffer.from(encodeResult(result)), Buffer.from(aad));
  return JSON.stringify({ $sealed: Buffer.from(sealed).toString('base64') });
}

/** Reads what `encodeResult` or `encodeSealedResult` stored. */
export async function decodeStoredResult<T>(text: string, cipher: AtRestCipher, aad: string): Promise<T> {
  const stored = JSON.parse(text) as unknown;
  if (stored && typeof stored === 'object' && typeof (stored as { $sealed?: unknown }).$sealed === 'string') {
    const opened = await cipher.openAtRest(Buffer.from((stored as { $sealed: string }).$sealed, 'base64'), Buffer.from(aad));
    return decodeResult<T>(Buffer.from(opened).toString('utf8'));
  }
  return decodeResult<T>(text);
}
