import { randomBytes } from 'node:crypto';
import graphene from 'graphene-pk11';
import type { Key, Module, Session, Slot } from 'graphene-pk11';
import pkcs11js from 'pkcs11js';
import { SignerError } from '../domain/errors.js';
import type { PublicJwk } from '../domain/key.js';
import { KEY_TYPE_INFO, type KeyType, type SignMechanism } from '../domain/key-types.js';
import { ecPublicJwk, ed25519PublicJwk, rsaPublicJwk } from '../domain/public-key.js';
import { isPkcs11Error, LoginLostError, toSignerError } from './pkcs11-errors.js';
import { CKK_EC_EDWARDS, keyPairTemplates, signMechanism } from './key-templates.js';
import { SessionPool } from './session-pool.js';
import { sessionIsLoggedIn, TokenLogin } from './token-login.js';
import { Mutex } from './mutex.js';
import { openAtRest, sealAtRest } from './at-rest-key.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { faults } from '../testing/faults.js';

export interface HsmConfig {
  /** Path of the PKCS#11 module, e.g. /usr/lib/softhsm/libsofthsm2.so. */
  modulePath: string;
  /** The token is found by label: slot ids change when tokens are created. */
  tokenLabel: string;
  pin: string;
  /** Sessions in the pool: how many signatures can be in the HSM at once. */
  sessions: number;
  /** Told how long each signature took in the token; keeps the keystore free of any metrics library. */
  observer?: HsmObserver;
}

export interface HsmObserver {
  /** Seconds from C_SignInit to the signature, not counting the wait for a session. Successful signs only. */
  signed(mechanism: SignMechanism, seconds: number): void;
}

export interface GeneratedKey {
  /** Hex of CKA_ID, shared by the private and the public object. */
  hsmId: string;
  publicJwk: PublicJwk;
}

const SESSION_FLAGS = graphene.SessionFlag.SERIAL_SESSION | graphene.SessionFlag.RW_SESSION;
const MAX_SIGNATURE_BYTES = 512; // RSA-4096; everything we generate is smaller.
const KEY_ID_BYTES = 16;

/**
 * The only code that talks PKCS#11. graphene-pk11 handles the module, slots, sessions and templates;
 * signing calls pkcs11js directly because graphene has no promise-based C_Sign.
 */
export class Hsm {
  private readonly keyHandles = new Map<string, Buffer>();
  private readonly generation = new Mutex();

  private readonly pool: SessionPool;

  private constructor(
    private readonly module: Module,
    slot: Slot,
    private readonly login: TokenLogin,
    sessions: number,
    private readonly observer?: HsmObserver,
  ) {
    this.pool = new SessionPool(() => slot.open(SESSION_FLAGS), () => this.restoreLogin(), sessions);
  }

  /** Loads the module, finds the token by label and logs in once. Never retries a refused PIN. */
  static open(config: HsmConfig): Hsm {
    let module: Module;
    try {
      module = graphene.Module.load(config.modulePath);
      // Without CKF_OS_LOCKING_OK SoftHSM does no locking and concurrent async calls corrupt its state.
      module.initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
    } catch (error) {
      throw new SignerError('HSM_UNAVAILABLE', `cannot load PKCS#11 module ${config.modulePath}`, undefined, {
        cause: error,
      });
    }
    try {
      const slot = findSlotByTokenLabel(module, config.tokenLabel);
      const login = TokenLogin.open(() => slot.open(SESSION_FLAGS), config.pin);
      return new Hsm(module, slot, login, config.sessions, config.observer);
    } catch (error) {
      module.finalize();
      throw toSignerError(error, 'login');
    }
  }

  get sessions(): { size: number; busy: number; waiting: number } {
    return { size: this.pool.size, busy: this.pool.busy, waiting: this.pool.waiting };
  }

  /**
   * Whether the token is present and we are logged in. A login the token forgot (a reset) is
   * restored here too, so an idle service heals without waiting for a request; a refused PIN is not
   * tried again.
   */
  isHealthy(): boolean {
    try {
      this.restoreLogin();
      return true;
    } catch {
      return false;
    }
  }

  /** Generates a key pair inside the token. Serialised: parallel generation gains nothing and stalls signing. */
  generateKeyPair(type: KeyType, label: string): Promise<GeneratedKey> {
    return this.generation.run(() =>
      this.pool.use(async (session) => {
        const id = randomBytes(KEY_ID_BYTES);
        const templates = keyPairTemplates(type, id, label);
        const keys = await new Promise<graphene.IKeyPair>((resolve, reject) =>
          session.generateKeyPair(templates.generation, templates.publicKey, templates.privateKey, (error, pair) =>
            error || !pair ? reject(error) : resolve(pair),
          ),
        );
        return { hsmId: id.toString('hex'), publicJwk: readPublicJwk(type, keys.publicKey) };
      }).catch((error: unknown) => {
        throw toSignerError(error, 'key generation');
      }),
    );
  }

  /** The key pair whose public object has this CKA_LABEL, if there is exactly one. */
  async findKeyPairByLabel(label: string): Promise<GeneratedKey | undefined> {
    return this.pool.use(async (session) => {
      const found = session.find({ class: graphene.ObjectClass.PUBLIC_KEY, label });
      if (found.length === 0) return undefined;
      if (found.length > 1) throw new SignerError('HSM_UNAVAILABLE', `several keys on the token are labelled "${label}"`);
      const publicKey = found.items(0).toType<Key>();
      const keyType = publicKey.getAttribute({ keyType: null }).keyType as number;
      const type: KeyType = keyType === CKK_EC_EDWARDS ? 'ed25519' : keyType === pkcs11js.CKK_RSA ? 'rsa2048' : 'p256';
      if (type !== 'ed25519') throw new SignerError('HSM_UNAVAILABLE', `the key labelled "${label}" is not an Ed25519 key`);
      return { hsmId: (publicKey.getAttribute({ id: null }).id as Buffer).toString('hex'), publicJwk: readPublicJwk(type, publicKey) };
    });
  }

  /** Removes both halves of a key pair; used to undo a creation that could not be recorded. */
  async destroyKeyPair(hsmId: string): Promise<void> {
    this.keyHandles.delete(hsmId);
    await this.pool.use(async (session) => {
      for (const object of session.find({ id: Buffer.from(hsmId, 'hex') })) object.destroy();
    });
  }

  /**
   * Signs `input` with the private key `hsmId`, off the event loop. For `ecdsa-digest` the input is
   * the 32-byte digest; the other mechanisms take the whole message.
   */
  async sign(hsmId: string, mechanism: SignMechanism, input: Uint8Array, beforeSign?: () => void | Promise<void>): Promise<Uint8Array> {
    if (mechanism === 'ecdsa-digest' && input.length !== 32) {
      // CKM_ECDSA signs digests of any length; anything but 32 bytes here is a bug above us.
      throw new SignerError('INTERNAL', `ECDSA input must be a 32-byte digest, got ${input.length}`);
    }
    const lib = this.module.lib;
    const data = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    try {
      return await this.pool.use(async (session) => {
        const key = this.privateKeyHandle(session, hsmId);
        // The last check before the HSM (e.g. "is the key still enabled?"), after waiting for a session.
        await beforeSign?.();
        const started = performance.now();
        lib.C_SignInit(session.handle, signMechanism(mechanism), key);
        const signature = await lib.C_SignAsync(session.handle, data, Buffer.alloc(MAX_SIGNATURE_BYTES));
        await slowHsmForTests();
        this.observer?.signed(mechanism, (performance.now() - started) / 1000);
        return new Uint8Array(signature);
      });
    } catch (error) {
      if (isPkcs11Error(error, pkcs11js.CKR_OBJECT_HANDLE_INVALID, pkcs11js.CKR_KEY_HANDLE_INVALID)) {
        this.keyHandles.delete(hsmId);
      }
      throw toSignerError(error, 'sign');
    }
  }

  /** Encrypts a secret the database keeps, under the token's at-rest AES key (see at-rest-key.ts). */
  async sealAtRest(plaintext: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
    return this.pool.use(async (session) => sealAtRest(this.module.lib, session, plaintext, aad)).catch((error: unknown) => {
      throw toSignerError(error, 'encryption');
    });
  }

  async openAtRest(sealed: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
    return this.pool.use(async (session) => openAtRest(this.module.lib, session, sealed, aad)).catch((error: unknown) => {
      throw toSignerError(error, 'decryption');
    });
  }

  /** Closes every session, logs out and finalises the module. */
  close(): void {
    this.pool.close();
    this.login.close();
    this.module.finalize();
  }

  /** After a token reset: log in again if needed; object handles from before may name nothing now. */
  private restoreLogin(): void {
    if (this.login.restore()) this.keyHandles.clear();
  }

  /** Object handles are valid in every session of this application, so they are cached per key. */
  private privateKeyHandle(session: Session, hsmId: string): Buffer {
    const cached = this.keyHandles.get(hsmId);
    if (cached) return cached;
    const found = session.find({ class: graphene.ObjectClass.PRIVATE_KEY, id: Buffer.from(hsmId, 'hex') });
    // Private objects are invisible without a login: that is a lost login, not a missing key.
    if (found.length === 0 && !sessionIsLoggedIn(session)) throw new LoginLostError();
    if (found.length !== 1) {
      throw new SignerError('HSM_UNAVAILABLE', `private key ${hsmId} is not on the token (found ${found.length})`);
    }
    const handle = found.items(0).handle;
    this.keyHandles.set(hsmId, handle);
    return handle;
  }
}

/** Tests only (SIGNER_TEST_FAULTS=hsm-delay-ms=N): an HSM that answers late, holding its session meanwhile. */
async function slowHsmForTests(): Promise<void> {
  const delayMs = faults.hsmDelayMs();
  if (delayMs > 0) await sleep(delayMs);
}

function findSlotByTokenLabel(module: Module, label: string): Slot {
  const slots = module.getSlots(true);
  for (let i = 0; i < slots.length; i++) {
    const slot = slots.items(i);
    if (slot.getToken().label.trim() === label) return slot;
  }
  throw new SignerError('HSM_UNAVAILABLE', `no token labelled "${label}" in the PKCS#11 module`);
}

function readPublicJwk(type: KeyType, publicKey: Key): PublicJwk {
  const info = KEY_TYPE_INFO[type];
  if (info.family === 'rsa') {
    const { modulus, publicExponent } = publicKey.getAttribute({ modulus: null, publicExponent: null });
    return rsaPublicJwk(modulus as Buffer, publicExponent as Buffer);
  }
  const point = derOctetString(publicKey.getAttribute({ pointEC: null }).pointEC as Buffer);
  return info.family === 'ec' ? ecPublicJwk(type, point) : ed25519PublicJwk(point);
}

/** CKA_EC_POINT is a DER OCTET STRING around the point: 0x04, a DER length, the bytes. */
function derOctetString(der: Buffer): Uint8Array {
  if (der[0] !== 0x04 || der.length < 2) throw new SignerError('HSM_UNAVAILABLE', 'CKA_EC_POINT is not an OCTET STRING');
  let length = der[1]!;
  let offset = 2;
  if (length & 0x80) {
    const lengthBytes = length & 0x7f;
    length = 0;
    for (let i = 0; i < lengthBytes; i++) length = (length << 8) | der[2 + i]!;
    offset = 2 + lengthBytes;
  }
  if (offset + length !== der.length) throw new SignerError('HSM_UNAVAILABLE', 'CKA_EC_POINT has a bad length');
  return new Uint8Array(der.subarray(offset));
}
