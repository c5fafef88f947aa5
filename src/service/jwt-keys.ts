import { SignerError, invalidField } from '../domain/errors.js';
import { JWT_ALGORITHM_INFO, jwkThumbprint, type JwtKeySettings, type KeyVersion } from '../domain/jwt.js';
import type { KeyRecord, PublicJwk } from '../domain/key.js';
import type { KeyType } from '../domain/key-types.js';
import type { Logger } from '../domain/logger.js';
import type { RequestContext } from '../domain/request-context.js';
import type { Hsm } from '../keystore/hsm.js';
import { jwtScheme, type SignedJwt } from '../schemes/jwt.js';
import { lockNames, type Ledger, type Store } from '../store/store.js';
import type { KeyService } from './key-service.js';
import type { PolicyGate } from './policy-gate.js';
import type { SigningService } from './signing-service.js';

/**
 * How long a rotated-in version is in the JWKS before it signs, unless the key says otherwise: longer
 * than verifiers cache a JWKS (jose refetches for an unknown kid at most every 30 s; HTTP caches
 * follow max-age, which is this too).
 */
export const DEFAULT_PUBLISH_AHEAD_MS = 10 * 60_000;
/** Defaults for the other schedule settings of a new JWT key. */
export const DEFAULT_VERIFICATION_GRACE_MS = 5 * 60_000;
export const DEFAULT_CLOCK_SKEW_MS = 60_000;
export const DEFAULT_TOKEN_TTL_MS = 15 * 60_000;

export interface JwkEntry extends PublicJwk {
  kid: string;
  alg: string;
  use: 'sig';
}

/**
 * JWT keys with versions: published (in the JWKS, not signing) -> active (signs; one per key) ->
 * retiring (in the JWKS, not signing) -> retired (gone from the JWKS). Transitions are decided by
 * `advance(now)` from timestamps, so they are the same whichever process or timer runs them.
 */
export class JwtKeyService {
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly hsm: Hsm,
    private readonly keys: KeyService,
    private readonly signing: SigningService,
    private readonly policy: PolicyGate,
    private readonly store: Store,
    private readonly log: Logger,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Creates the key and its first version, which signs at once: there is no older version a verifier could be caching. */
  async create(name: string, settings: JwtKeySettings, labels: Record<string, string>, keyType?: KeyType): Promise<KeyRecord> {
    const type = keyType ?? JWT_ALGORITHM_INFO[settings.algorithm].defaultKeyType;
    if (!JWT_ALGORITHM_INFO[settings.algorithm].keyTypes.includes(type)) {
      throw invalidField('key_type', `${settings.algorithm} needs ${JWT_ALGORITHM_INFO[settings.algorithm].keyTypes.join(' or ')}`);
    }
    const now = this.clock();
    await this.keys.create({ name, type, labels }, async (tx, key) => {
      await tx.putJwtKey(name, settings);
      await tx.insertVersion(newVersion(name, 1, key.hsmId, key.publicJwk, now));
      await this.advanceKey(tx, name, settings, now);
    });
    return this.keys.get(name);
  }

  /** Publishes a new version now; it becomes active once it has been published for publish-ahead. */
  async rotate(name: string): Promise<KeyVersion[]> {
    const settings = await this.settingsOf(name);
    await this.addVersion(name, settings, false);
    return this.store.transaction(
      async (tx) => {
        await this.advanceKey(tx, name, settings, this.clock());
        return tx.versions(name);
      },
      { locks: [lockNames.key(name)] },
    );
  }

  async versions(name: string): Promise<KeyVersion[]> {
    await this.settingsOf(name);
    return this.store.reader.versions(name);
  }

  /** Settings and versions of a JWT key; undefined for any other key. */
  async infoOf(name: string): Promise<{ settings: JwtKeySettings; versions: KeyVersion[] } | undefined> {
    const settings = await this.store.reader.jwtSettings(name);
    return settings && { settings, versions: await this.store.reader.versions(name) };
  }

  async settingsOf(name: string): Promise<JwtKeySettings> {
    const settings = await this.store.reader.jwtSettings(name);
    if (!settings) throw new SignerError('WRONG_KEY_TYPE', `key "${name}" is not a JWT key`, 'key_name');
    return settings;
  }

  /** Signs the claims with the key's active version. */
  async sign(ctx: RequestContext, keyName: string, claimsJson: string): Promise<SignedJwt> {
    const settings = await this.settingsOf(keyName);
    await this.ensureActiveVersion(keyName, settings);
    const maxTtlMs = this.policy.jwtMaxTtlMs(keyName);
    return this.signing.sign(
      ctx,
      jwtScheme,
      keyName,
      { claimsJson, algorithm: settings.algorithm, nowMs: this.clock(), defaultTtlMs: settings.defaultTtlMs, ...(maxTtlMs !== undefined ? { maxTtlMs } : {}) },
      // The version must stay in the JWKS until this token has expired.
      (tx, result) => tx.noteTokenExpiry(keyName, result.kid, result.expiresAtMs),
    );
  }

  /**
   * A key without an active version activates a due one now rather than at the next scheduled run;
   * with none due, the refusal says when one becomes active.
   */
  private async ensureActiveVersion(keyName: string, settings: JwtKeySettings): Promise<void> {
    if ((await this.keys.get(keyName, 'key_name')).kid) return;
    const now = this.clock();
    const versions = await this.store.transaction(
      async (tx) => {
        await this.advanceKey(tx, keyName, settings, now);
        return tx.versions(keyName);
      },
      { locks: [lockNames.key(keyName)] },
    );
    if (versions.some((v) => v.state === 'active')) return;
    const next = versions.filter((v) => v.state === 'published').map((v) => v.publishedAt + settings.publishAheadMs).sort((a, b) => a - b)[0];
    const when =
      next === undefined
        ? 'none is waiting to become active; rotate the key to publish one'
        : `the next becomes active at ${new Date(next).toISOString()} (in ${Math.ceil((next - now) / 1000)}s), once it has been in the JWKS for publish-ahead`;
    throw new SignerError('WRONG_KEY_TYPE', `key "${keyName}" has no active JWT version: ${when}`, 'key_name');
  }

  /** Every published, active and retiring version of every JWT key (or of `keyName`'s). Never private members. */
  async jwks(keyName?: string): Promise<{ keys: JwkEntry[]; maxAgeSeconds: number }> {
    // Refuses a key that is not a JWT key (WRONG_KEY_TYPE) rather than returning an empty set.
    if (keyName !== undefined) await this.settingsOf(keyName);
    const live = (await this.store.liveVersions()).filter((v) => keyName === undefined || v.keyName === keyName);
    const keys = live.map((v) => {
      const { kty, crv, x, y, n, e } = v.publicJwk;
      const publicOnly = Object.fromEntries(Object.entries({ kty, crv, x, y, n, e }).filter(([, value]) => value !== undefined)) as unknown as PublicJwk;
      return { ...publicOnly, kid: v.kid, alg: v.algorithm, use: 'sig' as const };
    });
    // A verifier that caches the set for max-age still sees a new version before it signs.
    const publishAhead = (await this.store.jwtKeys()).map((k) => k.settings.publishAheadMs);
    const maxAgeSeconds = publishAhead.length ? Math.floor(Math.min(...publishAhead) / 1000) : 0;
    return { keys, maxAgeSeconds };
  }

  /** Applies due transitions to every JWT key, generating new versions for scheduled rotations. */
  async advance(): Promise<void> {
    // One replica runs the schedule; should two ever run it, the key's lock and the due-check in
    // `addVersion` still add exactly one version.
    await this.store.asLeader('jwt-schedule', async () => {
      for (const { keyName, settings } of await this.store.jwtKeys()) {
        const advance = (tx: Ledger) => this.advanceKey(tx, keyName, settings, this.clock());
        const due = await this.store.transaction(advance, { locks: [lockNames.key(keyName)] });
        if (due && (await this.addVersion(keyName, settings, true))) {
          await this.store.transaction(advance, { locks: [lockNames.key(keyName)] });
        }
      }
    });
  }

  startSchedule(intervalMs: number): void {
    this.timer = setInterval(() => {
      this.advance().catch((error: unknown) => this.log.error('JWT key rotation failed', { error: String(error) }));
    }, intervalMs);
    this.timer.unref();
  }

  stopSchedule(): void {
    clearInterval(this.timer);
  }

  /**
   * Generates and publishes a new version; with `onlyIfDue`, only while the schedule still calls for
   * one (another replica may have added it meanwhile): else the new pair is destroyed, never orphaned.
   */
  private async addVersion(name: string, settings: JwtKeySettings, onlyIfDue: boolean): Promise<boolean> {
    const current = await this.keys.get(name);
    // Outside any transaction: key generation is slow and must not hold the database.
    const generated = await this.hsm.generateKeyPair(current.type, `${name}#v${Date.now()}`);
    let added = false;
    try {
      added = await this.store.transaction(
        async (tx) => {
          if (onlyIfDue && !(await this.advanceKey(tx, name, settings, this.clock()))) return false;
          const versions = await tx.versions(name);
          await tx.insertVersion(newVersion(name, versions.length + 1, generated.hsmId, generated.publicJwk, this.clock()));
          return true;
        },
        { locks: [lockNames.key(name)] },
      );
    } finally {
      // Unless a commit whose outcome is unknown recorded it after all (or that cannot be read).
      const recorded = added || (await this.store.reader.versions(name).then((versions) => versions.some((v) => v.hsmId === generated.hsmId), () => true));
      if (!recorded) {
        await this.hsm.destroyKeyPair(generated.hsmId).catch((error: unknown) =>
          this.log.error('could not remove an unused JWT key pair from the HSM', { hsmId: generated.hsmId, error: String(error) }),
        );
      }
    }
    if (added) this.log.info('JWT key version published', { key: name, algorithm: settings.algorithm });
    return added;
  }

  /**
   * Pure transitions for one key at `now`, inside a transaction. Returns true if a scheduled rotation
   * needs a new version generated.
   */
  private async advanceKey(tx: Ledger, name: string, settings: JwtKeySettings, now: number): Promise<boolean> {
    const versions = await tx.versions(name);
    const active = versions.find((v) => v.state === 'active');
    // A key's first version has nothing to overlap with: it is ready at once.
    const first = versions.every((v) => v.activatedAt === undefined);
    const ready = versions.filter((v) => v.state === 'published' && (first || now >= v.publishedAt + settings.publishAheadMs)).at(-1);
    if (ready && (!active || ready.version > active.version)) {
      if (active) await tx.updateVersion({ ...active, state: 'retiring', retiringAt: now });
      // Older published versions that never signed are superseded.
      for (const skipped of versions.filter((v) => v.state === 'published' && v.version < ready.version)) {
        await tx.updateVersion({ ...skipped, state: 'retiring', retiringAt: now });
      }
      await tx.updateVersion({ ...ready, state: 'active', activatedAt: now });
      await tx.setActiveVersion(name, ready.hsmId, ready.publicJwk, ready.kid);
    }
    for (const v of (await tx.versions(name)).filter((version) => version.state === 'retiring')) {
      // Never before every token it signed can have expired, plus clock skew and the grace period.
      const until = Math.max(v.retiringAt!, v.lastExpMs ?? 0) + settings.clockSkewMs + settings.graceMs;
      if (now >= until) await tx.updateVersion({ ...v, state: 'retired', retiredAt: now });
    }
    const current = await tx.versions(name);
    const nowActive = current.find((v) => v.state === 'active');
    const pending = current.some((v) => v.state === 'published');
    return (
      settings.rotationPeriodMs > 0 &&
      nowActive !== undefined &&
      !pending &&
      now >= nowActive.activatedAt! + settings.rotationPeriodMs - settings.publishAheadMs
    );
  }
}

function newVersion(keyName: string, version: number, hsmId: string, publicJwk: PublicJwk, now: number): KeyVersion {
  return { keyName, version, hsmId, publicJwk, kid: jwkThumbprint(publicJwk), state: 'published', publishedAt: now };
}
