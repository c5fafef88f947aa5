/**
 * Key-name globs: `*` matches within one segment, `**` (only as a whole segment) across segments.
 * `prod/relayer**` is refused: it would also match `prod/relayer-admin/...`, which its author
 * almost certainly did not mean.
 */
export function globToRegExp(pattern: string): RegExp {
  if (!/^[a-z0-9._\-/*]+$/.test(pattern)) throw new Error('must be a key name or a glob of [a-z0-9._-/] with * and **');
  const bad = pattern.split('/').find((segment) => segment.includes('**') && segment !== '**');
  if (bad !== undefined) throw new Error(`"**" must be a whole segment (as in "prod/**"), not part of "${bad}"`);
  const body = pattern
    .split(/(\*\*|\*)/)
    .map((part) => (part === '**' ? '.*' : part === '*' ? '[^/]*' : part.replace(/[.]/g, '\\.')))
    .join('');
  return new RegExp(`^${body}$`);
}
