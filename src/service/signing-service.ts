import { SignerError } from '../domain/errors.js';
import type { Logger } from '../domain/logger.js';
import type { Hsm } from '../keystore/hsm.js';
import type { Scheme } from '../schemes/scheme.js';
import type { KeyService } from './key-service.js';

/**
 * The one signing path, the same for every scheme:
 * resolve key -> decode the request into an intent (the digest comes from exactly the decoded
 * bytes) -> [policy, then audit intent: later issues] -> sign in the HSM, off the event loop ->
 * finish (low-s, recovery id, verify) -> reply.
 */
export class SigningService {
  constructor(
    private readonly hsm: Hsm,
    private readonly keys: KeyService,
    private readonly log: Logger,
  ) {}

  async sign<Request, Intent, Result>(
    scheme: Scheme<Request, Intent, Result>,
    keyName: string,
    request: Request,
  ): Promise<Result> {
    const key = this.keys.get(keyName, 'key_name');
    if (!scheme.keyTypes.includes(key.type)) {
      throw new SignerError(
        'WRONG_KEY_TYPE',
        `key "${key.name}" is a ${key.type} key; ${scheme.name} signing needs ${scheme.keyTypes.join(' or ')}`,
        'key_name',
      );
    }
    const prepared = scheme.prepare(request, key);
    const raw = await this.hsm.sign(key.hsmId, prepared.mechanism, prepared.input);
    try {
      return scheme.finish(prepared, raw, key);
    } catch (error) {
      if (error instanceof SignerError && error.code === 'HSM_BAD_SIGNATURE') {
        this.log.error('HSM returned a signature that does not verify; not released', { key: key.name, scheme: scheme.name });
      }
      throw error;
    }
  }
}
