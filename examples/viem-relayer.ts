/**
 * A relayer on viem whose key stays in the signer's HSM: `createRemoteViemAccount` replaces
 * `privateKeyToAccount(privateKey)`, and the wallet client prepares and sends as usual.
 *
 *   npm start                                     # in another terminal
 *   npm run build && node dist/examples/create-dev-keys.js   # once: creates dev/relayer/hot-1
 *   node dist/examples/viem-relayer.js            # signs only (no node needed)
 *   ETH_RPC_URL=http://127.0.0.1:8545 node dist/examples/viem-relayer.js   # prepares and sends
 *
 * Environment (defaults match `npm start` and policies/relayer-hot.yaml):
 *   SIGNER_ADDRESS      localhost:50051
 *   SIGNER_CLIENT_CA, SIGNER_CLIENT_CERT, SIGNER_CLIENT_KEY   data/pki/ca.pem, relayer.pem, relayer-key.pem
 *   SIGNER_KEY          dev/relayer/hot-1
 *   CHAIN               sepolia (or mainnet, base: the chains the policy allows)
 *   ETH_RPC_URL         unset: sign a fixed transaction and print it; set: send one through this node
 *   TO, VALUE_ETHER     0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed (allowed by the policy), 0.001
 *   APPROVAL_TIMEOUT_MS how long to wait if the policy parks the request for approvers (default 0: report it)
 */
import { createWalletClient, http, parseEther, parseGwei, recoverTransactionAddress, verifyMessage, type Hex } from 'viem';
import { base, mainnet, sepolia } from 'viem/chains';
import { RemoteSignerClient, SignerError } from 'hsm-remote-signer/client/core';
import { createRemoteViemAccount } from 'hsm-remote-signer/client/viem';

const env = process.env;
const client = new RemoteSignerClient({
  address: env.SIGNER_ADDRESS ?? 'localhost:50051',
  tls: { ca: env.SIGNER_CLIENT_CA ?? 'data/pki/ca.pem', cert: env.SIGNER_CLIENT_CERT ?? 'data/pki/relayer.pem', key: env.SIGNER_CLIENT_KEY ?? 'data/pki/relayer-key.pem' },
});
const keyName = env.SIGNER_KEY ?? 'dev/relayer/hot-1';
const chains = { sepolia, mainnet, base };
const chain = chains[(env.CHAIN ?? 'sepolia') as keyof typeof chains];
const to = (env.TO ?? '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed') as Hex;
const value = parseEther(env.VALUE_ETHER ?? '0.001');

async function main(): Promise<void> {
  if (!chain) throw new Error(`CHAIN must be one of ${Object.keys(chains).join(', ')} (got ${env.CHAIN})`);
  // Reads the address and public key from the service once; viem needs them synchronously.
  const account = await createRemoteViemAccount(client, keyName, { approvalTimeoutMs: Number(env.APPROVAL_TIMEOUT_MS ?? 0) });
  console.log(`relayer ${keyName} is ${account.address}`);

  const message = `relayer ${account.address} online`;
  const signature = await account.signMessage({ message });
  console.log(`signed "${message}": viem verifies it: ${await verifyMessage({ address: account.address, message, signature })}`);

  if (env.ETH_RPC_URL) {
    // viem asks the node for the nonce, gas and fees; the service signs what viem serialized.
    const wallet = createWalletClient({ account, chain, transport: http(env.ETH_RPC_URL) });
    const hash = await wallet.sendTransaction({ to, value });
    console.log(`sent ${hash} on ${chain.name}`);
  } else {
    const raw = await account.signTransaction({
      chainId: chain.id,
      nonce: Number(env.NONCE ?? 0),
      to,
      value,
      gas: 21_000n,
      maxFeePerGas: parseGwei('20'),
      maxPriorityFeePerGas: parseGwei('1'),
    });
    const from = await recoverTransactionAddress({ serializedTransaction: raw as `0x02${string}` });
    console.log(`signed transaction ${raw}`);
    console.log(`  from ${from} on ${chain.name}: ready for eth_sendRawTransaction`);
  }
}

main()
  .catch((error: unknown) => {
    if (error instanceof SignerError && error.code === 'APPROVAL_PENDING') {
      console.error(`waiting for approvers: request ${error.pendingRequestId} (npx signer approvals show ${error.pendingRequestId})`);
    } else if (error instanceof SignerError && error.code === 'KEY_NOT_FOUND') {
      console.error(`key ${keyName} not found: create it with node dist/examples/create-dev-keys.js (or CreateKey as an admin)`);
    } else {
      console.error(`viem relayer example failed: ${(error as Error).message}${error instanceof SignerError ? ` [${error.code}${error.reason ? ` ${error.reason}` : ''}]` : ''}`);
    }
    process.exitCode = 1;
  })
  .finally(() => client.close());
