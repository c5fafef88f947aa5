/** `*` matches within one segment, `**` across segments. */
export function globToRegExp(pattern: string): RegExp {
  if (!/^[a-z0-9._\-/*]+$/.test(pattern)) throw new Error('must be a key name or a glob of [a-z0-9._-/] with * and **');
  const body = pattern
    .split(/(\*\*|\*)/)
    .map((part) => (part === '**' ? '.*' : part === '*' ? '[^/]*' : part.replace(/[.]/g, '\\.')))
    .join('');
  return new RegExp(`^${body}$`);
}

