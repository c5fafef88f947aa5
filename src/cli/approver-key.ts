import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { ed25519 } from '@noble/curves/ed25519.js';
import { askSecret, onTerminal } from './prompt.js';

/**
 * An approver's Ed25519 key file (from `approvals keygen`), mode 0600. The private key is either
 * plain hex or, with a passphrase, sealed: scrypt derives an AES-256-GCM key; the approver id and
 * public key are bound in as associated data, so a sealed key cannot be moved to another identity.
 */
export interface ApproverKeyFile {
  id: string;
  public_key: string;
  private_key?: string;
  encrypted_private_key?: SealedKey;
}

interface SealedKey {
  kdf: 'scrypt';
  n: number;
  r: number;
  p: number;
  salt: string;
  cipher: 'aes-256-gcm';
  iv: string;
  ciphertext: string;
  tag: string;
}

// scrypt at N=2^15, r=8 (32 MiB, about 100 ms): the cost OWASP recommends for interactive logins.
const SCRYPT = { n: 1 << 15, r: 8, p: 1 };
const MAX_N = 1 << 20;

function deriveKey(passphrase: string, salt: Buffer, params: { n: number; r: number; p: number }): Buffer {
  return scryptSync(passphrase.normalize('NFKC'), salt, 32, { N: params.n, r: params.r, p: params.p, maxmem: 256 * params.n * params.r + 1024 * 1024 });
}

const associatedData = (id: string, publicKey: string) => Buffer.from(`signer-approver-key/v1\n${id}\n${publicKey}`);

export function sealPrivateKey(secret: Uint8Array, passphrase: string, id: string, publicKey: string): SealedKey {
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', deriveKey(passphrase, salt, SCRYPT), iv);
  cipher.setAAD(associatedData(id, publicKey));
  const ciphertext = Buffer.concat([cipher.update(secret), cipher.final()]);
  return { kdf: 'scrypt', ...SCRYPT, salt: salt.toString('hex'), cipher: 'aes-256-gcm', iv: iv.toString('hex'), ciphertext: ciphertext.toString('hex'), tag: cipher.getAuthTag().toString('hex') };
}

function openPrivateKey(file: ApproverKeyFile, sealed: SealedKey, passphrase: string): Uint8Array {
  if (sealed.kdf !== 'scrypt' || sealed.cipher !== 'aes-256-gcm') throw new Error(`key file: unknown kdf or cipher (expected scrypt and aes-256-gcm)`);
  if (!Number.isInteger(sealed.n) || sealed.n < 2 || sealed.n > MAX_N || (sealed.n & (sealed.n - 1)) !== 0) throw new Error('key file: "n" expected a power of two up to 2^20');
  if (!Number.isInteger(sealed.r) || sealed.r < 1 || sealed.r > 32 || !Number.isInteger(sealed.p) || sealed.p < 1 || sealed.p > 16) throw new Error('key file: "r" or "p" out of range');
  const decipher = createDecipheriv('aes-256-gcm', deriveKey(passphrase, Buffer.from(sealed.salt, 'hex'), sealed), Buffer.from(sealed.iv, 'hex'));
  decipher.setAAD(associatedData(file.id, file.public_key));
  decipher.setAuthTag(Buffer.from(sealed.tag, 'hex'));
  try {
    return Buffer.concat([decipher.update(Buffer.from(sealed.ciphertext, 'hex')), decipher.final()]);
  } catch {
    throw new Error('wrong passphrase (or the key file was changed)');
  }
}

/** A passphrase file must be readable by its owner only, like the key it opens. */
export function readPassphraseFile(path: string): string {
  const mode = statSync(path).mode & 0o777;
  if (mode & 0o077) throw new Error(`--passphrase-file ${path} is readable by others (mode ${mode.toString(8).padStart(4, '0')}): chmod 600 it`);
  const text = readFileSync(path, 'utf8').replace(/\r?\n$/, '');
  if (!text) throw new Error(`--passphrase-file ${path} is empty`);
  return text;
}

/** The passphrase from --passphrase-file, or asked on the terminal; never from a flag's value or the environment. */
export async function passphrase(passphraseFile: string | undefined, question: string): Promise<string> {
  if (passphraseFile) return readPassphraseFile(passphraseFile);
  if (!onTerminal()) throw new Error('the key file is encrypted: give --passphrase-file (mode 0600), or run on a terminal to be asked');
  const answer = await askSecret(question);
  if (!answer) throw new Error('no passphrase given');
  return answer;
}

/** Reads a key file and returns its id and private key, asking for the passphrase if it is sealed. */
export async function loadApproverKey(path: string, passphraseFile?: string): Promise<{ id: string; privateKey: Uint8Array }> {
  let file: ApproverKeyFile;
  try {
    file = JSON.parse(readFileSync(path, 'utf8')) as ApproverKeyFile;
  } catch (error) {
    throw new Error(`--key-file ${path}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file (create one with "signer approvals keygen")' : 'not a key file from "signer approvals keygen"'}`);
  }
  if (typeof file.id !== 'string' || typeof file.public_key !== 'string') throw new Error(`--key-file ${path}: "id" and "public_key" expected`);
  const privateKey = file.encrypted_private_key
    ? openPrivateKey(file, file.encrypted_private_key, await passphrase(passphraseFile, `passphrase for ${path}: `))
    : Buffer.from(file.private_key ?? '', 'hex');
  if (privateKey.length !== 32 || Buffer.from(ed25519.getPublicKey(privateKey)).toString('hex') !== file.public_key.toLowerCase()) {
    throw new Error(`--key-file ${path}: the private key does not match its public_key`);
  }
  return { id: file.id, privateKey };
}
