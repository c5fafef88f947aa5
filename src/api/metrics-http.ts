import { createServer, type Server } from 'node:http';
import type { Logger } from '../domain/logger.js';

export interface MetricsHttpConfig {
  host: string;
  /** 0 picks a free port. */
  port: number;
}

/** Whatever renders the exposition text (the service's own registry). */
export interface MetricsSource {
  readonly contentType: string;
  text(): Promise<string>;
}

export interface RunningMetricsServer {
  port: number;
  /** The URL Prometheus should scrape. */
  url: string;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/**
 * Prometheus scrape endpoint: GET /metrics, nothing else. Loopback by default: the figures name keys
 * and show how much of each spend window is used, which is for operators, not for the network.
 */
export async function startMetricsServer(config: MetricsHttpConfig, metrics: MetricsSource, log: Logger): Promise<RunningMetricsServer> {
  const server: Server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (path !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    metrics.text().then(
      (text) => {
        response
          .writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) })
          .end(request.method === 'HEAD' ? undefined : text);
      },
      (error: unknown) => {
        log.error('metrics collection failed', { error: String(error) });
        response.writeHead(500, { 'content-type': 'text/plain' }).end('metrics collection failed\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  if (!LOOPBACK.has(config.host)) {
    log.warn('the metrics endpoint is not on loopback: anyone who can reach it sees key names and spend-window usage', { address: `${host}:${port}` });
  }
  return {
    port,
    url: `http://${host}:${port}/metrics`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
