import { SignerError } from '../domain/errors.js';
import type { KeyRecord } from '../domain/key.js';
import { KEY_TYPE_INFO } from '../domain/key-types.js';
import { ethereumAddress } from '../domain/public-key.js';
import type { Store } from '../store/store.js';
import { RESERVED_PREFIX, type KeyService } from './key-service.js';
import type { PolicyGate } from './policy-gate.js';

export interface EthereumAccount {
  /** EIP-55 checksummed. */
  address: string;
  keyName: string;
}

const PAGE = 500;

/**
 * Ethereum tools name keys by address. This maps addresses to the keys a caller may use for an RPC
 * (access file), so a caller learns nothing about keys it may not use: an address of someone else's
 * key is as unknown as an address of no key.
 */
export class EthereumAccounts {
  constructor(
    private readonly keys: KeyService,
    private readonly policy: PolicyGate,
    private readonly store: Store,
  ) {}

  /** The enabled Ethereum keys `caller` may call `rpc` on, in key-name order. */
  async list(caller: string, rpc: string, options: { includeDisabled?: boolean } = {}): Promise<EthereumAccount[]> {
    const usable = async (key: KeyRecord) =>
      KEY_TYPE_INFO[key.type].ethereum &&
      (options.includeDisabled || key.enabled) &&
      !key.name.startsWith(RESERVED_PREFIX) &&
      this.policy.access.allows(caller, rpc, key.name) &&
      !(await this.store.reader.jwtSettings(key.name));
    const accounts: EthereumAccount[] = [];
    let token = '';
    do {
      const page = await this.keys.list(PAGE, token);
      for (const key of page.keys) if (await usable(key)) accounts.push({ address: ethereumAddress(key.publicJwk), keyName: key.name });
      token = page.nextPageToken;
    } while (token);
    return accounts;
  }

  /**
   * The key behind `address` among those `caller` may call `rpc` on (disabled ones included, so that
   * signing with one says KEY_DISABLED). Two usable keys with one address would be the same key
   * imported twice: refused rather than guessed.
   */
  async resolve(caller: string, rpc: string, address: string, field: string): Promise<string> {
    this.policy.access.check(caller, rpc);
    const wanted = address.toLowerCase();
    const found = (await this.list(caller, rpc, { includeDisabled: true })).filter((account) => account.address.toLowerCase() === wanted);
    if (found.length === 0) throw new SignerError('KEY_NOT_FOUND', `no key ${caller} may use for ${rpc} has the address ${address}`, field);
    if (found.length > 1) throw new SignerError('KEY_NOT_FOUND', `more than one key has the address ${address}: name one key per address`, field);
    return found[0]!.keyName;
  }
}
