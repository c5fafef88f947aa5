import { invalidField } from './errors.js';

// Path-like: segments of [a-z0-9._-], separated by '/', no empty, '.' or '..' segments.
const SEGMENT = /^[a-z0-9][a-z0-9._-]*$/;
const MAX_NAME_LENGTH = 200;

const LABEL_KEY = /^[a-z][a-z0-9_-]{0,62}$/;
const MAX_LABELS = 32;
const MAX_LABEL_VALUE_LENGTH = 256;

/** Checks a key name such as `prod/relayer/hot-1`; throws INVALID_FIELD naming `field`. */
export function validateKeyName(name: string, field = 'key_name'): string {
  if (name.length === 0) throw invalidField(field, 'is required');
  if (name.length > MAX_NAME_LENGTH) throw invalidField(field, `must be at most ${MAX_NAME_LENGTH} characters`);
  for (const segment of name.split('/')) {
    if (!SEGMENT.test(segment) || segment === '.' || segment === '..') {
      throw invalidField(
        field,
        'must be path-like: lowercase segments of [a-z0-9._-] separated by "/" (e.g. "prod/relayer/hot-1")',
      );
    }
  }
  return name;
}

/** Checks labels (conventionally env, service, owner, purpose). */
export function validateLabels(labels: Record<string, string>): Record<string, string> {
  const entries = Object.entries(labels);
  if (entries.length > MAX_LABELS) throw invalidField('labels', `must have at most ${MAX_LABELS} entries`);
  for (const [key, value] of entries) {
    if (!LABEL_KEY.test(key)) throw invalidField(`labels.${key}`, 'key must match [a-z][a-z0-9_-]{0,62}');
    if (value.length > MAX_LABEL_VALUE_LENGTH) {
      throw invalidField(`labels.${key}`, `must be at most ${MAX_LABEL_VALUE_LENGTH} characters`);
    }
  }
  return Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
