/**
 * Stores a sign result for idempotent retries: JSON with bigints and byte arrays tagged, so that a
 * replayed reply is the exact reply the first call got.
 */
export function encodeResult(result: unknown): string {
  return JSON.stringify(result, (_key, value: unknown) => {
    if (typeof value === 'bigint') return { $bigint: value.toString() };
    if (value instanceof Uint8Array) return { $bytes: Buffer.from(value).toString('base64') };
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
