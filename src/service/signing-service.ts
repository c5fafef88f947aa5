import { SignerError } from '../domain/errors.js';
import type { Logger } from '../domain/logger.js';
import type { Hsm } from '../keystore/hsm.js';
import type { Decision } from '../policy/decision.js';
import type { Scheme } from '../schemes/scheme.js';
import type { KeyService } from './key-service.js';
import type { PolicyGate } from './policy-gate.js';

/**
 * The one signing path, the same for every scheme:
 * resolve key -> decode the request into an intent (the digest comes from exactly the decoded
 * bytes) -> evaluate the key's policy and reserve the spend, in one exclusive transaction ->
 * [audit intent: a later issue] -> sign in the HSM, off the event loop -> finish (low-s,
 * recovery id, verify) -> reply.
 */
export class SigningService {
  constructor(
    private readonly hsm: Hsm,
    private readonly keys: KeyService,
    private readonly policy: PolicyGate,
    private readonly log: Logger,
  ) {}

  async sign<Request, Decoded, Result>(
    scheme: Scheme<Request, Decoded, Result>,
    keyName: string,
    request: Request,
  ): Promise<Result> {
    const { key, prepared } = this.prepare(scheme, keyName, request);
    // Reservations stay even if the HSM then fails: failing closed never lets a window be exceeded.
    this.policy.authorize(key.name, prepared.intent);
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

  /** What the policy would decide for this request now, through the same decoding as `sign`. */
  explain<Request, Decoded, Result>(scheme: Scheme<Request, Decoded, Result>, keyName: string, request: Request): Decision {
    const { key, prepared } = this.prepare(scheme, keyName, request);
    return this.policy.explain(key.name, prepared.intent);
  }

  private prepare<Request, Decoded, Result>(scheme: Scheme<Request, Decoded, Result>, keyName: string, request: Request) {
    const key = this.keys.get(keyName, 'key_name');
    if (!scheme.keyTypes.includes(key.type)) {
      throw new SignerError(
        'WRONG_KEY_TYPE',
        `key "${key.name}" is a ${key.type} key; ${scheme.name} signing needs ${scheme.keyTypes.join(' or ')}`,
        'key_name',
      );
    }
    return { key, prepared: scheme.prepare(request, key) };
  }
}
