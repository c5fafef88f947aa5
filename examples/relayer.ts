/**
 * A relayer on ethers v6 whose key stays in the signer's HSM: `await RemoteEthersSigner.connect(...)`
 * replaces `new Wallet(privateKey, provider)`, and ethers populates and sends as usual.
 *
 *   npm start                                     # in another terminal
 *   npm run build && node dist/examples/create-dev-keys.js   # once: creates dev/relayer/hot-1
 *   node dist/examples/relayer.js                 # signs only (no node needed)
 *   ETH_RPC_URL=http://127.0.0.1:8545 node dist/examples/relayer.js   # populates and sends
 *
 * Environment (defaults match `npm start` and policies/relayer-hot.yaml):
 *   SIGNER_ADDRESS      localhost:50051
 *   SIGNER_CLIENT_CA, SIGNER_CLIENT_CERT, SIGNER_CLIENT_KEY   data/pki/ca.pem, relayer.pem, relayer-key.pem
 *   SIGNER_KEY          dev/relayer/hot-1
 *   ETH_RPC_URL         unset: sign a fixed Sepolia transaction and print it; set: send one through this node
 *   TO, VALUE_ETHER     0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed (allowed by the policy), 0.001
 *   APPROVAL_TIMEOUT_MS how long to wait if the policy parks the request for approvers (default 0: report it)
 */
import { JsonRpcProvider, Transaction, isError, parseEther, verifyMessage } from 'ethers';
import { RemoteEthersSigner, RemoteSignerClient, SignerError } from 'hsm-remote-signer/client';

const env = process.env;
const client = new RemoteSignerClient({
  address: env.SIGNER_ADDRESS ?? 'localhost:50051',
  tls: { ca: env.SIGNER_CLIENT_CA ?? 'data/pki/ca.pem', cert: env.SIGNER_CLIENT_CERT ?? 'data/pki/relayer.pem', key: env.SIGNER_CLIENT_KEY ?? 'data/pki/relayer-key.pem' },
});
const keyName = env.SIGNER_KEY ?? 'dev/relayer/hot-1';
const to = env.TO ?? '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed';
const value = parseEther(env.VALUE_ETHER ?? '0.001');
const provider = env.ETH_RPC_URL ? new JsonRpcProvider(env.ETH_RPC_URL) : null;

async function main(): Promise<void> {
  // Reads the key's address from the service once: like a Wallet, the signer knows it from here on.
  const signer = await RemoteEthersSigner.connect(client, keyName, provider, { approvalTimeoutMs: Number(env.APPROVAL_TIMEOUT_MS ?? 0) });
  const address = signer.address;
  console.log(`relayer ${keyName} is ${address}`);

  const message = `relayer ${address} online`;
  const signature = await signer.signMessage(message);
  console.log(`signed "${message}": ethers recovers ${verifyMessage(message, signature)}`);

  if (provider) {
    // ethers asks the node for the nonce, gas limit, chain id and fees; the service signs.
    const sent = await signer.sendTransaction({ to, value });
    console.log(`sent ${sent.hash} (nonce ${sent.nonce}, chain ${sent.chainId})`);
  } else {
    const raw = await signer.signTransaction({
      type: 2,
      chainId: 11155111, // Sepolia
      nonce: Number(env.NONCE ?? 0),
      to,
      value,
      gasLimit: 21_000,
      maxFeePerGas: 20_000_000_000n,
      maxPriorityFeePerGas: 1_000_000_000n,
    });
    const parsed = Transaction.from(raw);
    console.log(`signed transaction ${raw}`);
    console.log(`  hash ${parsed.hash}, from ${parsed.from}: ready for eth_sendRawTransaction`);
  }
}

main()
  .catch((error: unknown) => {
    if (error instanceof SignerError && error.code === 'APPROVAL_PENDING') {
      console.error(`waiting for approvers: request ${error.pendingRequestId} (npx signer approvals show ${error.pendingRequestId})`);
    } else if (isError(error, 'ACTION_REJECTED')) {
      console.error(`the approvers said no (${error.reason}): ${(error.error as SignerError).message}`);
    } else if (error instanceof SignerError && error.code === 'KEY_NOT_FOUND') {
      console.error(`key ${keyName} not found: create it with node dist/examples/create-dev-keys.js (or CreateKey as an admin)`);
    } else {
      console.error(`relayer example failed: ${(error as Error).message}${error instanceof SignerError ? ` [${error.code}${error.reason ? ` ${error.reason}` : ''}]` : ''}`);
    }
    process.exitCode = 1;
  })
  .finally(() => {
    provider?.destroy();
    client.close();
  });
