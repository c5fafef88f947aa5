import { X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { SignerError } from '../domain/errors.js';
import type { AccessRules } from '../policy/access.js';

/** The caller identity every request runs as when the service was started with --insecure. */
export const INSECURE_IDENTITY = 'local';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/**
 * Verifies a client certificate against the configured CAs and returns the caller identity: the
 * first URI SAN (e.g. spiffe://example.org/relayer), else the subject CN. The TLS layer asks for a
 * certificate but does not reject the connection, so that a bad one gets UNAUTHENTICATED, not a
 * failed handshake. The checks here repeat TLS's own, as defence in depth. Last, the access rules
 * decide whether the issuing CA may stand for that identity (a grant can name its CA): `access` is
 * required so that no transport can authenticate without that check.
 */
export function identityFromCertificate(peer: PeerCertificate | undefined, cas: readonly X509Certificate[], access: AccessRules, now = new Date()): string {
  // grpc-js exposes the peer certificate only when TLS verified it against the CAs (issuer and
  // validity dates), so "none", "expired" and "another CA" all arrive here as no certificate.
  if (!peer?.raw) throw unauthenticated('a valid client certificate from a trusted CA is required (none was presented, or it is expired or from another CA)');
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(peer.raw);
  } catch {
    throw unauthenticated('the client certificate cannot be parsed');
  }
  const issuer = cas.find((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey));
  if (!issuer) throw unauthenticated('the client certificate is not issued by a trusted CA');
  if (now < new Date(cert.validFrom) || now > new Date(cert.validTo)) {
    throw unauthenticated(`the client certificate is not valid now (valid ${cert.validFrom} to ${cert.validTo})`);
  }
  if (cert.ca) throw unauthenticated('a CA certificate cannot be used as a client certificate');
  // Node lists the extended key usages here; a certificate that names some must name clientAuth.
  if (cert.keyUsage?.length && !cert.keyUsage.includes(CLIENT_AUTH)) throw unauthenticated('the certificate is not for client authentication');
  const uri = cert.subjectAltName
    ?.split(/,\s*/)
    .find((name) => name.startsWith('URI:'))
    ?.slice(4);
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1];
  // A CN that looks like a URI could pose as a URI SAN identity (spiffe://.../admin): refused.
  if (!uri && cn?.includes(':')) throw unauthenticated('a CN used as the identity must not contain ":"; use a URI SAN');
  const identity = uri ?? cn;
  if (!identity) throw unauthenticated('the client certificate names no identity (URI SAN or CN)');
  access.checkIssuer(identity, issuer.fingerprint256, cas.length);
  return identity;
}

function unauthenticated(message: string): SignerError {
  return new SignerError('UNAUTHENTICATED', message);
}
