import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';

const MARKER = /-----(BEGIN|END) [A-Z0-9 ]+-----/g;

/**
 * Reads a PEM bundle of CA certificates the way OpenSSL will, or refuses it naming the file. OpenSSL
 * wants each BEGIN and END marker on a line of its own: `cat ca.pem other.pem` where ca.pem lacks a
 * final newline glues two markers on one line, and OpenSSL then silently reads fewer certificates
 * than a lenient parser would, so every client of the lost CA is refused while the service runs.
 */
export function readCaBundle(file: string): X509Certificate[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`--tls-ca ${file} cannot be read: ${(error as Error).message}`);
  }
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    const markers = line.match(MARKER) ?? [];
    if (markers.length === 0) return;
    if (markers.length > 1 || line.trim() !== markers[0]) {
      throw new Error(
        `--tls-ca ${file}:${i + 1}: a PEM marker must stand on a line of its own, found ${JSON.stringify(line.trim().slice(0, 120))}` +
          ' (was a file without a final newline concatenated? add a line break between the certificates)',
      );
    }
  });
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new Error(`--tls-ca ${file}: no CA certificate in it`);
  const cas = blocks.map((pem, i) => {
    try {
      return new X509Certificate(pem);
    } catch (error) {
      throw new Error(`--tls-ca ${file}: certificate ${i + 1} cannot be parsed: ${(error as Error).message}`);
    }
  });
  try {
    createSecureContext({ ca: text });
  } catch (error) {
    throw new Error(`--tls-ca ${file}: the TLS layer cannot read it: ${(error as Error).message}`);
  }
  return cas;
}
