import { webcrypto } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type KeyPair = webcrypto.CryptoKeyPair;

/** Client identities created for development, each with its own certificate. */
export const DEV_CLIENTS = ['relayer', 'backend', 'approver', 'admin'] as const;
export const DEV_TRUST_DOMAIN = 'signer.local';

export interface DevPki {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  client(name: string): { cert: string; key: string; identity: string };
}

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const VALID_DAYS = 825;

/**
 * Creates (once) a development CA, a server certificate for localhost and one client certificate per
 * development identity (URI SAN spiffe://signer.local/<name>). Private keys are written 0600.
 * Development only: a real deployment brings its own CA.
 */
export async function ensureDevPki(dir: string): Promise<DevPki> {
  const paths = devPkiPaths(dir);
  if (!existsSync(paths.caCert)) await createDevPki(dir);
  else addMissingFinalNewlines(paths);
  return paths;
}

export function devPkiPaths(dir: string): DevPki {
  return {
    dir,
    caCert: join(dir, 'ca.pem'),
    serverCert: join(dir, 'server.pem'),
    serverKey: join(dir, 'server-key.pem'),
    client: (name) => ({
      cert: join(dir, `${name}.pem`),
      key: join(dir, `${name}-key.pem`),
      identity: `spiffe://${DEV_TRUST_DOMAIN}/${name}`,
    }),
  };
}

/** Issues a certificate signed by `issuer` (or self-signed when issuer is undefined). Exported for tests. */
export async function issueCertificate(options: {
  subject: string;
  issuer?: { cert: x509.X509Certificate; keys: KeyPair };
  ca?: boolean;
  uri?: string;
  dns?: string[];
  ip?: string[];
  notBefore?: Date;
  notAfter?: Date;
}): Promise<{ cert: x509.X509Certificate; keys: KeyPair; certPem: string; keyPem: string }> {
  const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as KeyPair;
  const notBefore = options.notBefore ?? new Date(Date.now() - 60_000);
  const notAfter = options.notAfter ?? new Date(Date.now() + VALID_DAYS * 86_400_000);
  const names = [
    ...(options.uri ? [{ type: 'url' as const, value: options.uri }] : []),
    ...(options.dns ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(options.ip ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(options.ca ?? false, undefined, true),
    new x509.KeyUsagesExtension(
      options.ca ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign : x509.KeyUsageFlags.digitalSignature,
      true,
    ),
    ...(options.ca ? [] : [new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth])]),
    ...(names.length ? [new x509.SubjectAlternativeNameExtension(names)] : []),
  ];
  const serialNumber = Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, '1');
  const cert = options.issuer
    ? await x509.X509CertificateGenerator.create({
        serialNumber,
        subject: options.subject,
        issuer: options.issuer.cert.subject,
        notBefore,
        notAfter,
        signingAlgorithm: ALGORITHM,
        publicKey: keys.publicKey,
        signingKey: options.issuer.keys.privateKey,
        extensions,
      })
    : await x509.X509CertificateGenerator.createSelfSigned({ serialNumber, name: options.subject, notBefore, notAfter, signingAlgorithm: ALGORITHM, keys, extensions });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  const keyPem = withFinalNewline(x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'));
  return { cert, keys, certPem: withFinalNewline(cert.toString('pem')), keyPem };
}

/** PEM files end with a newline, so that `cat ca.pem other.pem` makes a bundle OpenSSL can read. */
function withFinalNewline(pem: string): string {
  return pem.endsWith('\n') ? pem : `${pem}\n`;
}

/** Development PKIs made before PEM files ended with a newline are repaired in place. */
function addMissingFinalNewlines(paths: DevPki): void {
  const files = [paths.caCert, paths.serverCert, paths.serverKey, ...DEV_CLIENTS.flatMap((name) => [paths.client(name).cert, paths.client(name).key])];
  for (const file of files) {
    if (existsSync(file) && !readFileSync(file, 'utf8').endsWith('\n')) appendFileSync(file, '\n');
  }
}

async function createDevPki(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const paths = devPkiPaths(dir);
  const ca = await issueCertificate({ subject: 'CN=signer development CA', ca: true });
  const server = await issueCertificate({ subject: 'CN=localhost', issuer: ca, dns: ['localhost'], ip: ['127.0.0.1', '::1'] });
  writeFileSync(paths.serverCert, server.certPem);
  writeFileSync(paths.serverKey, server.keyPem, { mode: 0o600 });
  for (const name of DEV_CLIENTS) {
    const client = paths.client(name);
    const issued = await issueCertificate({ subject: `CN=${name}`, issuer: ca, uri: client.identity });
    writeFileSync(client.cert, issued.certPem);
    writeFileSync(client.key, issued.keyPem, { mode: 0o600 });
  }
  // The CA's key is not kept: nothing can be issued later without recreating the whole directory.
  writeFileSync(paths.caCert, ca.certPem);
}
