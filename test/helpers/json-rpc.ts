import { request as httpsRequest } from 'node:https';

export interface JsonRpcReply<T = unknown> {
  jsonrpc: '2.0';
  id: unknown;
  result?: T;
  error?: { code: number; message: string; data?: Record<string, unknown> };
}

let nextId = 1;

/** One JSON-RPC call over plain HTTP: the whole reply object (result or error). */
export async function rpc<T = unknown>(url: string, method: string, params: unknown[] = [], headers: Record<string, string> = {}): Promise<JsonRpcReply<T>> {
  return (await post(url, { jsonrpc: '2.0', id: nextId++, method, params }, headers)).body as JsonRpcReply<T>;
}

/** Posts any body (a batch, something invalid): the HTTP status and the parsed reply (or undefined for none). */
export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

/** One JSON-RPC call over HTTPS, presenting `cert` (or no certificate). */
export function rpcTls<T = unknown>(url: string, ca: string, method: string, params: unknown[], cert?: { certPem: string; keyPem: string }): Promise<JsonRpcReply<T>> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      url,
      { method: 'POST', ca, servername: 'localhost', headers: { 'content-type': 'application/json' }, ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}) },
      (res) => {
        let text = '';
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => resolve(JSON.parse(text) as JsonRpcReply<T>));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ jsonrpc: '2.0', id: nextId++, method, params }));
  });
}
