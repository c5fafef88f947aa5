import { SignerError } from '../domain/errors.js';

/** An error object the downstream node answered with: passed on to the caller as the node sent it. */
export class NodeRpcError extends Error {
  override readonly name = 'NodeRpcError';
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

export interface EthereumNode {
  /** Calls the node; throws NodeRpcError for its JSON-RPC errors, NODE_UNAVAILABLE if it cannot be reached. */
  call(method: string, params: unknown[]): Promise<unknown>;
}

/** The downstream Ethereum node (--downstream-rpc-url), over HTTP(S), one call per request. */
export class HttpEthereumNode implements EthereumNode {
  private nextId = 1;

  constructor(
    private readonly url: string,
    private readonly timeoutMs = 10_000,
  ) {}

  async call(method: string, params: unknown[]): Promise<unknown> {
    let body: unknown;
    try {
      const response = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: this.nextId++, method, params }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      body = await response.json();
    } catch (error) {
      // The URL may hold credentials (an API key in its path): it is not repeated to callers.
      throw new SignerError('NODE_UNAVAILABLE', `the downstream node did not answer ${method}`, undefined, { cause: error });
    }
    const reply = body as { result?: unknown; error?: { code?: unknown; message?: unknown; data?: unknown } } | null;
    if (reply?.error) {
      const code = typeof reply.error.code === 'number' ? reply.error.code : -32000;
      throw new NodeRpcError(code, String(reply.error.message ?? 'error'), reply.error.data);
    }
    if (!reply || typeof reply !== 'object' || !('result' in reply)) {
      throw new SignerError('NODE_UNAVAILABLE', `the downstream node answered ${method} with something that is not a JSON-RPC response`);
    }
    return reply.result;
  }
}

/** A node is required for this: NODE_UNAVAILABLE naming what needed it. */
export function requireNode(node: EthereumNode | undefined, purpose: string): EthereumNode {
  if (!node) throw new SignerError('NODE_UNAVAILABLE', `${purpose} needs a downstream node, and none is configured (--downstream-rpc-url)`);
  return node;
}
