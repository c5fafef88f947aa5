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
