/**
 * The typed-data request of issue 13 item 13: `types` struct types of `members` members each, every
 * member an array of another type, so each type's encoded type string holds every type. The message
 * nests one level per type (up to `depth`), so a naive encoder hashes a near-whole type string per level.
 * The defaults make 249,292 bytes (the 248 KB of the issue), under the default 256 KiB message limit.
 */
export function mutuallyReferencingTypedData({ types = 64, members = 100, depth = 4 } = {}): string {
  const name = (i: number) => `Type${i % types}`;
  const declared: Record<string, Array<{ name: string; type: string }>> = {};
  for (let i = 0; i < types; i++) {
    declared[name(i)] = Array.from({ length: members }, (_, j) => ({ name: `member${j}`, type: `${name(i + 1 + j)}[]` }));
  }
  const value = (i: number, level: number): Record<string, unknown> =>
    Object.fromEntries(Array.from({ length: members }, (_, j) => [`member${j}`, j === 0 && level < depth ? [value(i + 1, level + 1)] : []]));
  return JSON.stringify({ types: declared, primaryType: name(0), domain: { name: 'blowup', chainId: 1 }, message: value(0, 0) });
}
