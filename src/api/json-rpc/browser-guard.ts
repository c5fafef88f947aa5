import type { IncomingMessage } from 'node:http';

/** Host names a loopback listener answers to; any other Host header is a DNS-rebinding attempt. */
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * Why a request must be refused because a web browser could have sent it, or undefined when it is fine.
 *
 * Tools (ethers, viem, Foundry, geth) send `Content-Type: application/json` and no `Origin`. A web page
 * can make a browser POST `text/plain` to a loopback port without asking first, and through DNS
 * rebinding even read the reply; on the plaintext listener every caller has the sidecar's identity,
 * so such a request would sign. A page cannot send JSON cross-origin without a preflight, and a
 * preflight (OPTIONS) is refused with 405.
 */
export function browserRequestRefusal(request: IncomingMessage, plaintext: boolean): string | undefined {
  if (request.headers.origin !== undefined) return 'requests from web pages (with an Origin header) are refused';
  const mediaType = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (mediaType !== 'application/json') return `Content-Type must be application/json (got ${JSON.stringify(mediaType || 'none')})`;
  if (plaintext && !LOOPBACK_HOSTS.has(hostName(request.headers.host ?? ''))) {
    return `the plaintext listener answers only to a loopback Host (127.0.0.1, localhost or [::1]), not ${JSON.stringify(request.headers.host ?? '')}`;
  }
  return undefined;
}

function hostName(host: string): string {
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0]!;
  return name.toLowerCase();
}
