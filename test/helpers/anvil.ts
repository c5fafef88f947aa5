import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** The path of a Foundry tool's binary (anvil, cast) from its platform package (@foundry-rs/<tool>-linux-amd64, ...). */
export function foundryBinary(tool: 'anvil' | 'cast'): string {
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  const manifest = createRequire(import.meta.url).resolve(`@foundry-rs/${tool}-${process.platform}-${arch}/package.json`);
  return join(dirname(manifest), 'bin', tool);
}

export interface Anvil {
  url: string;
  chainId: bigint;
  /** One JSON-RPC call straight to anvil (not through the signer). */
  call<T = unknown>(method: string, params?: unknown[]): Promise<T>;
  stop(): Promise<void>;
}

/** A real local Ethereum node on a free loopback port; stopped with the test. */
export async function startAnvil(chainId = 31337n): Promise<Anvil> {
  const child: ChildProcess = spawn(foundryBinary('anvil'), ['--host', '127.0.0.1', '--port', '0', '--chain-id', chainId.toString(), '--accounts', '1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  process.once('exit', () => child.kill('SIGKILL'));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`anvil did not start: ${out}`)), 30_000);
    child.stdout!.on('data', (chunk) => {
      out += chunk;
      const match = /Listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.once('exit', (code) => reject(new Error(`anvil exited with ${code}: ${out}`)));
  });
  const url = `http://127.0.0.1:${port}`;
  let id = 1;
  return {
    url,
    chainId,
    async call<T>(method: string, params: unknown[] = []) {
      const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: id++, method, params }) });
      const body = (await response.json()) as { result?: T; error?: { message: string } };
      if (body.error) throw new Error(`anvil ${method}: ${body.error.message}`);
      return body.result as T;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** The receipt of a transaction anvil mined (sender lowercased): anvil mines on arrival, but its receipt can lag the send. */
export async function minedReceipt(anvil: Anvil, hash: string): Promise<{ from: string; status: string }> {
  for (const giveUp = Date.now() + 10_000; Date.now() < giveUp; await new Promise((resolve) => setTimeout(resolve, 100))) {
    const receipt = await anvil.call<{ from: string; status: string } | null>('eth_getTransactionReceipt', [hash]);
    if (receipt) return { from: receipt.from.toLowerCase(), status: receipt.status };
  }
  throw new Error(`transaction ${hash} was not mined within 10 s`);
}
