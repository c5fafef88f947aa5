import { SignerError, invalidField } from '../domain/errors.js';
import type { KeyRecord } from '../domain/key.js';
import { validateKeyName, validateLabels } from '../domain/key-name.js';
import type { KeyType } from '../domain/key-types.js';
import type { Logger } from '../domain/logger.js';
import type { Hsm } from '../keystore/hsm.js';
import type { Store } from '../store/store.js';

export interface CreateKeyInput {
  name: string;
  type: KeyType;
  labels: Record<string, string>;
}

export interface KeyPage {
  keys: KeyRecord[];
  /** Empty on the last page. */
  nextPageToken: string;
}

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;

/** Key lifecycle: creation in the HSM plus the metadata kept beside it. */
export class KeyService {
  constructor(
    private readonly hsm: Hsm,
    private readonly store: Store,
    private readonly log: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async create(input: CreateKeyInput): Promise<KeyRecord> {
    const name = validateKeyName(input.name, 'name');
    const labels = validateLabels(input.labels);
    // Checked before generating so that a taken name costs no HSM work; the insert checks again.
    if (this.store.findKey(name)) throw new SignerError('KEY_EXISTS', `key "${name}" already exists`, 'name');
    const generated = await this.hsm.generateKeyPair(input.type, name);
    const key: KeyRecord = { name, type: input.type, labels, createdAt: this.now(), ...generated };
    try {
      this.store.insertKey(key);
    } catch (error) {
      // Nothing half-made: a key pair without its record would be an orphan on the token.
      await this.hsm.destroyKeyPair(generated.hsmId).catch((cleanup: unknown) =>
        this.log.error('could not remove an unrecorded key pair from the HSM', { hsmId: generated.hsmId, error: String(cleanup) }),
      );
      throw error;
    }
    this.log.info('key created', { key: name, type: key.type, hsmId: key.hsmId });
    return key;
  }

  get(name: string, field = 'name'): KeyRecord {
    const key = this.store.findKey(validateKeyName(name, field));
    if (!key) throw new SignerError('KEY_NOT_FOUND', `key "${name}" does not exist`, field);
    return key;
  }

  list(pageSize: number, pageToken: string): KeyPage {
    if (pageSize < 0 || pageSize > MAX_PAGE_SIZE) throw invalidField('page_size', `must be between 1 and ${MAX_PAGE_SIZE}`);
    const limit = pageSize || DEFAULT_PAGE_SIZE;
    const after = pageToken ? decodePageToken(pageToken) : undefined;
    // One extra row tells whether another page follows.
    const rows = this.store.listKeys(limit + 1, after);
    const keys = rows.slice(0, limit);
    const nextPageToken = rows.length > limit ? encodePageToken(keys[keys.length - 1]!.name) : '';
    return { keys, nextPageToken };
  }
}

function encodePageToken(lastName: string): string {
  return Buffer.from(JSON.stringify({ after: lastName })).toString('base64url');
}

function decodePageToken(token: string): string {
  try {
    const { after } = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (typeof after === 'string') return after;
  } catch {
    // Reported below.
  }
  throw invalidField('page_token', 'is not a token from a previous ListKeys response');
}
