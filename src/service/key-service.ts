import { SignerError, invalidField } from '../domain/errors.js';
import type { KeyRecord } from '../domain/key.js';
import { validateKeyName, validateLabels } from '../domain/key-name.js';
import type { KeyType } from '../domain/key-types.js';
import type { Logger } from '../domain/logger.js';
import type { Hsm } from '../keystore/hsm.js';
import { lockNames, type Ledger, type Store } from '../store/store.js';

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
/** Names of the service's own keys (the audit checkpoint key): not creatable or usable through the API. */
export const RESERVED_PREFIX = 'system/';
export const MAX_PAGE_SIZE = 1000;

/** Key lifecycle: creation in the HSM plus the metadata kept beside it. */
export class KeyService {
  constructor(
    private readonly hsm: Hsm,
    private readonly store: Store,
    private readonly log: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** `alsoInTx` runs in the transaction that records the key (e.g. a JWT key's first version). */
  async create(input: CreateKeyInput, alsoInTx?: (tx: Ledger, key: KeyRecord) => Promise<void>): Promise<KeyRecord> {
    const name = validateKeyName(input.name, 'name');
    const labels = validateLabels(input.labels);
    // Checked before generating so that a taken name costs no HSM work; the insert checks again.
    if (name.startsWith(RESERVED_PREFIX)) throw invalidField('name', `must not start with "${RESERVED_PREFIX}": reserved for the service's own keys`);
    if (await this.store.findKey(name)) throw new SignerError('KEY_EXISTS', `key "${name}" already exists`, 'name');
    const generated = await this.hsm.generateKeyPair(input.type, name);
    const key: KeyRecord = { name, type: input.type, labels, createdAt: this.now(), enabled: true, useCount: 0, ...generated };
    try {
      // The database decides between replicas creating the same name: the loser destroys its pair below.
      await this.store.transaction(
        async (tx) => {
          await tx.insertKey(key);
          await alsoInTx?.(tx, key);
        },
        { locks: [lockNames.key(name)] },
      );
    } catch (error) {
      // Nothing half-made: a key pair without its record would be an orphan on the token. But a commit
      // whose outcome is unknown may have recorded it: then (or if that cannot be read) the pair stays.
      const recorded = await this.store.findKey(name).then((found) => found?.hsmId === generated.hsmId, () => true);
      if (!recorded) {
        await this.hsm.destroyKeyPair(generated.hsmId).catch((cleanup: unknown) =>
          this.log.error('could not remove an unrecorded key pair from the HSM', { hsmId: generated.hsmId, error: String(cleanup) }),
        );
      }
      throw error;
    }
    this.log.info('key created', { key: name, type: key.type, hsmId: key.hsmId });
    return this.get(name);
  }

  /**
   * Freezes or unfreezes a key. Takes effect for every request not yet signed once this returns.
   * `alsoInTx` runs in the same transaction (the audit record commits with the change).
   */
  async setEnabled(name: string, enabled: boolean, alsoInTx: (tx: Ledger) => void = () => {}): Promise<KeyRecord> {
    validateKeyName(name, 'name');
    // Under the key's lock: ordered against every sign request's final transaction, in every replica.
    await this.store.transaction(
      async (tx) => {
        if (!(await tx.setKeyEnabled(name, enabled))) throw new SignerError('KEY_NOT_FOUND', `key "${name}" does not exist`, 'name');
        alsoInTx(tx);
      },
      { locks: [lockNames.key(name)] },
    );
    this.log.warn(enabled ? 'key enabled' : 'key disabled: nothing is signed with it until it is enabled', { key: name });
    return this.get(name);
  }

  async get(name: string, field = 'name'): Promise<KeyRecord> {
    const key = await this.store.findKey(validateKeyName(name, field));
    if (!key) throw new SignerError('KEY_NOT_FOUND', `key "${name}" does not exist`, field);
    return key;
  }

  /** `visible` filters out keys the caller may not see (least privilege). */
  async list(pageSize: number, pageToken: string, visible: (name: string) => boolean = () => true): Promise<KeyPage> {
    if (pageSize < 0 || pageSize > MAX_PAGE_SIZE) throw invalidField('page_size', `must be between 1 and ${MAX_PAGE_SIZE}`);
    const limit = pageSize || DEFAULT_PAGE_SIZE;
    const after = pageToken ? decodePageToken(pageToken) : undefined;
    const keys: KeyRecord[] = [];
    let cursor = after;
    let more = true;
    while (keys.length < limit && more) {
      const rows = await this.store.listKeys(limit, cursor);
      more = rows.length === limit;
      for (let i = 0; i < rows.length; i++) {
        cursor = rows[i]!.name;
        if (visible(cursor)) keys.push(rows[i]!);
        if (keys.length === limit) {
          more ||= i < rows.length - 1;
          break;
        }
      }
    }
    // A full page may be followed by an empty last page: finding out would cost another scan.
    return { keys, nextPageToken: more && cursor !== undefined ? encodePageToken(cursor) : '' };
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
