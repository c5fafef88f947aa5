import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { JwtKeyService } from '../service/jwt-keys.js';

export interface JwksHttpConfig {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Served as /.well-known/openid-configuration when set. */
  issuer?: string;
}

export interface RunningJwksServer {
  port: number;
  /** The JWKS URL verifiers should use. */
  url: string;
  close(): Promise<void>;
}

/**
 * Public, read-only HTTP for verifiers: GET /.well-known/jwks.json (and the OpenID discovery document
 * when an issuer is configured). Max-age never exceeds the publish-ahead time, so a verifier that
 * caches the set sees a new version before it signs anything.
 */
export async function startJwksServer(config: JwksHttpConfig, jwt: JwtKeyService): Promise<RunningJwksServer> {
  let jwksUrl = '';
  const server: Server = createServer((request, response) => {
    respond(request, response).catch(() => {
      // The database could not be read: the verifier retries, as it would after any 503.
      if (!response.headersSent) response.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"unavailable"}');
    });
  });
  const respond = async (request: IncomingMessage, response: ServerResponse) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    let body: unknown;
    let maxAge = 0;
    if (path === '/.well-known/jwks.json') {
      const { keys, maxAgeSeconds } = await jwt.jwks();
      body = { keys };
      maxAge = maxAgeSeconds;
    } else if (path === '/.well-known/openid-configuration' && config.issuer) {
      body = { issuer: config.issuer, jwks_uri: jwksUrl, id_token_signing_alg_values_supported: ['ES256', 'EdDSA', 'RS256', 'PS256'] };
      maxAge = 300;
    } else {
      response.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
      return;
    }
    const json = JSON.stringify(body);
    response
      .writeHead(200, { 'content-type': 'application/json', 'cache-control': `public, max-age=${maxAge}`, 'content-length': Buffer.byteLength(json) })
      .end(request.method === 'HEAD' ? undefined : json);
  };
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  jwksUrl = config.issuer ? `${config.issuer.replace(/\/$/, '')}/.well-known/jwks.json` : `http://${host}:${port}/.well-known/jwks.json`;
  return {
    port,
    url: `http://${host}:${port}/.well-known/jwks.json`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
