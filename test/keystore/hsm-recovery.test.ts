import { createPublicKey, verify, type JsonWebKey } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import graphene from 'graphene-pk11';
import { DEV_PIN } from '../../src/config.js';
import { SignerError } from '../../src/domain/errors.js';
import { ensureDevToken } from '../../src/keystore/dev-token.js';
import { Hsm } from '../../src/keystore/hsm.js';
import { changeUserPin, closeAllSessions } from '../helpers/pkcs11.js';

// One token per test, opened and closed in turn: SoftHSM reads SOFTHSM2_CONF at C_Initialize.
async function withHsm(label: string, run: (hsm: Hsm) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hsm-recovery-'));
  try {
    const { modulePath } = ensureDevToken(dir, label, DEV_PIN);
    const hsm = Hsm.open({ modulePath, tokenLabel: label, pin: DEV_PIN, sessions: 2 });
    try {
      await run(hsm);
    } finally {
      hsm.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Counts C_Login calls made through graphene (the only way the keystore logs in). */
function countLogins(): { readonly count: number; restore(): void } {
  const original = graphene.Session.prototype.login;
  const counter = { count: 0, restore: () => void (graphene.Session.prototype.login = original) };
  graphene.Session.prototype.login = function (this: graphene.Session, ...args: Parameters<typeof original>) {
    counter.count++;
    return original.apply(this, args);
  };
  return counter;
}

test.serial('after every session is closed underneath, signing recovers: sessions reopened, login restored', async (t) => {
  await withHsm('recover', async (hsm) => {
    const key = await hsm.generateKeyPair('ed25519', 'k');
    const publicKey = createPublicKey({ key: key.publicJwk as JsonWebKey, format: 'jwk' });
    await hsm.sign(key.hsmId, 'eddsa', Buffer.from('before')); // caches the key's object handle

    closeAllSessions('recover');
    // More signatures than sessions: every pooled session is dead and must be replaced.
    const messages = Array.from({ length: 6 }, (_, i) => Buffer.from(`after ${i}`));
    const signatures = await Promise.all(messages.map((message) => hsm.sign(key.hsmId, 'eddsa', message)));
    messages.forEach((message, i) => t.true(verify(null, message, publicKey, signatures[i]!)));
    t.true(hsm.isHealthy());
    t.deepEqual(hsm.sessions, { size: 2, busy: 0, waiting: 0 });
  });
});

test.serial('an idle service heals too: the health probe restores a lost login, once', async (t) => {
  await withHsm('idle', async (hsm) => {
    const logins = countLogins();
    t.teardown(() => logins.restore());
    closeAllSessions('idle');
    t.true(hsm.isHealthy());
    t.is(logins.count, 1);
    t.true(hsm.isHealthy());
    t.is(logins.count, 1, 'a kept login is not redone');
  });
});

test.serial('a PIN refused when logging in again is tried once, never again; signing fails with HSM_PIN_INCORRECT', async (t) => {
  await withHsm('pin-changed', async (hsm) => {
    const key = await hsm.generateKeyPair('p256', 'k');
    changeUserPin('pin-changed', DEV_PIN, 'a-new-pin');
    closeAllSessions('pin-changed');
    const logins = countLogins();
    t.teardown(() => logins.restore());

    t.false(hsm.isHealthy());
    for (let i = 0; i < 3; i++) {
      const error = await t.throwsAsync(hsm.sign(key.hsmId, 'ecdsa-digest', new Uint8Array(32)), { instanceOf: SignerError });
      t.is(error?.code, 'HSM_PIN_INCORRECT');
    }
    t.false(hsm.isHealthy());
    t.is(logins.count, 1);
  });
});
