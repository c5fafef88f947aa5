import { invalidField } from '../../domain/errors.js';

/** Positional parameters, as every Ethereum method takes them: at most `max` of them. */
export function positional(params: unknown, max: number): unknown[] {
  if (params === undefined) return [];
  if (!Array.isArray(params)) throw invalidField('params', 'must be an array');
  if (params.length > max) throw invalidField(`params[${max}]`, `is one parameter too many (at most ${max})`);
  return params;
}

/** A required parameter, named by its position and meaning in errors: `params[1] (address)`. */
export function required(params: unknown[], index: number): unknown {
  if (params[index] === undefined || params[index] === null) throw invalidField(`params[${index}]`, 'is required');
  return params[index];
}
