import { createServer, type IncomingMessage } from 'node:http';
import { Transaction } from 'ethers';

/**
 * A minimal Ethereum JSON-RPC responder on loopback, for the populate-and-send flows of ethers and viem
 * (no real node installs from npm on Node 20 without downloading a binary). It answers what those
 * flows ask (chain id, nonce, gas estimate, fee data, latest block) and, for eth_sendRawTransaction,
 * does what a node would check first: the transaction parses, is signed, is for this chain, and uses
 * the sender's next nonce. Anything else is a JSON-RPC "method not found", so an unexpected call fails
 * the test instead of being answered with a guess.
 */
export interface JsonRpcNode {
  url: string;
  /** Transactions accepted by eth_sendRawTransaction, in order. */
  sent: Array<{ raw: string; from: string; hash: string; transaction: Transaction }>;
  /** Method names in the order they were called. */
  calls: string[];
  close(): Promise<void>;
}

export interface JsonRpcNodeOptions {
  chainId: bigint;
  baseFeePerGas?: bigint;
  priorityFeePerGas?: bigint;
  gasEstimate?: bigint;
  /** Next nonce per address (lowercase); 0 when absent. */
  nonces?: Record<string, number>;
}

const GWEI = 1_000_000_000n;
const ZERO_HASH = `0x${'00'.repeat(32)}`;
const hex = (n: bigint | number) => `0x${n.toString(16)}`;

export async function startJsonRpcNode(options: JsonRpcNodeOptions): Promise<JsonRpcNode> {
  const { chainId, baseFeePerGas = GWEI, priorityFeePerGas = GWEI, gasEstimate = 21_000n } = options;
  const nonces = new Map(Object.entries(options.nonces ?? {}).map(([address, nonce]) => [address.toLowerCase(), nonce]));
  const sent: JsonRpcNode['sent'] = [];
  const calls: string[] = [];
  const blockNumber = 100;
  const block = {
    number: hex(blockNumber),
    hash: `0x${'11'.repeat(32)}`,
    parentHash: `0x${'22'.repeat(32)}`,
    timestamp: hex(Math.floor(Date.now() / 1000)),
    nonce: '0x0000000000000000',
    difficulty: '0x0',
    totalDifficulty: '0x0',
    gasLimit: hex(30_000_000),
    gasUsed: '0x0',
    miner: `0x${'00'.repeat(20)}`,
    extraData: '0x',
    baseFeePerGas: hex(baseFeePerGas),
    mixHash: ZERO_HASH,
    stateRoot: ZERO_HASH,
    receiptsRoot: ZERO_HASH,
    transactionsRoot: ZERO_HASH,
    sha3Uncles: ZERO_HASH,
    logsBloom: `0x${'00'.repeat(256)}`,
    size: '0x220',
    transactions: [],
    uncles: [],
  };

  const methods: Record<string, (params: unknown[]) => unknown> = {
    eth_chainId: () => hex(chainId),
    net_version: () => chainId.toString(),
    eth_blockNumber: () => hex(blockNumber),
    eth_getBlockByNumber: () => block,
    eth_getTransactionCount: ([address]) => hex(nonces.get(String(address).toLowerCase()) ?? 0),
    eth_estimateGas: () => hex(gasEstimate),
    eth_gasPrice: () => hex(baseFeePerGas + priorityFeePerGas),
    eth_maxPriorityFeePerGas: () => hex(priorityFeePerGas),
    eth_sendRawTransaction: ([raw]) => {
      const transaction = Transaction.from(String(raw));
      if (!transaction.from) throw new Error('transaction is not signed');
      if (transaction.chainId !== chainId) throw new Error(`invalid chain id ${transaction.chainId}`);
      const from = transaction.from.toLowerCase();
      const expected = nonces.get(from) ?? 0;
      if (transaction.nonce !== expected) throw new Error(`nonce ${transaction.nonce} is not the next nonce ${expected}`);
      nonces.set(from, expected + 1);
      sent.push({ raw: String(raw), from: transaction.from, hash: transaction.hash!, transaction });
      return transaction.hash;
    },
  };

  const answer = (request: { id?: unknown; method?: unknown; params?: unknown }) => {
    const method = String(request.method);
    calls.push(method);
    const handler = methods[method];
    if (!handler) return { jsonrpc: '2.0', id: request.id, error: { code: -32601, message: `method not found: ${method}` } };
    try {
      return { jsonrpc: '2.0', id: request.id, result: handler(Array.isArray(request.params) ? request.params : []) };
    } catch (error) {
      return { jsonrpc: '2.0', id: request.id, error: { code: -32000, message: (error as Error).message } };
    }
  };

  const server = createServer(async (request, response) => {
    const body = JSON.parse(await readBody(request)) as unknown;
    // ethers batches requests into arrays; viem sends one at a time.
    const reply = Array.isArray(body) ? body.map(answer) : answer(body as object);
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    sent,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function readBody(request: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of request) body += chunk;
  return body;
}
