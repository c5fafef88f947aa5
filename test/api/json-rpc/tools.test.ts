import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import test from 'ava';
import { JsonRpcProvider, Transaction, parseEther, verifyMessage, verifyTypedData, hexlify, toUtf8Bytes } from 'ethers';
import { createPublicClient, createWalletClient, defineChain, http, type Address, type Hex } from 'viem';
import type { Key__Output } from '../../../src/api/generated/signer/v1/Key.js';
import { foundryBinary, minedReceipt, startAnvil, type Anvil } from '../../helpers/anvil.js';
import { rpc } from '../../helpers/json-rpc.js';
import { startTestSigner, type TestSigner } from '../../helpers/signer.js';

const FRIEND = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed';
const STRANGER = '0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359';
const POLICY = `
key: "rpc/**"
ethereum_transactions:
  chain_ids: [31337]
  recipients: { allow: ["${FRIEND}"] }
  max_value: "5 ether"
  # Gas and fees left out are filled from the node only under a fee cap.
  max_total_fee: "1 ether"
personal_messages: { max_length: 1024 }
typed_data:
  domains: [{}]
  primary_types: [Mail]
`;

const MAIL = {
  domain: { name: 'Ether Mail', version: '1', chainId: 31337, verifyingContract: '0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC' },
  types: {
    Person: [
      { name: 'name', type: 'string' },
      { name: 'wallet', type: 'address' },
    ],
    Mail: [
      { name: 'from', type: 'Person' },
      { name: 'to', type: 'Person' },
      { name: 'contents', type: 'string' },
    ],
  },
  value: {
    from: { name: 'Cow', wallet: '0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826' },
    to: { name: 'Bob', wallet: '0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB' },
    contents: 'Hello, Bob!',
  },
};

let anvil: Anvil;
let t0: TestSigner;
let url: string;
let address: string;

test.before(async () => {
  anvil = await startAnvil();
  t0 = await startTestSigner({ jsonRpc: { host: '127.0.0.1', port: 0 }, downstreamRpcUrl: anvil.url }, { 'rpc.yaml': POLICY });
  url = t0.signer.jsonRpc!.url;
  address = (await t0.call<Key__Output>('CreateKey', { name: 'rpc/hot', type: 'KEY_TYPE_SECP256K1' })).ethereumAddress;
  await anvil.call('anvil_setBalance', [address, `0x${parseEther('100').toString(16)}`]);
});

test.after.always(async () => {
  await t0?.stop();
  await anvil?.stop();
});

const mined = (hash: string) => minedReceipt(anvil, hash);

test.serial('eth_accounts lists the key; ethers JsonRpcProvider + getSigner(address) sends a transaction anvil mines', async (t) => {
  t.deepEqual((await rpc(url, 'eth_accounts')).result, [address]);
  const provider = new JsonRpcProvider(url, undefined, { pollingInterval: 100 });
  const signer = await provider.getSigner(address);
  const sent = await signer.sendTransaction({ to: FRIEND, value: parseEther('1') });
  const receipt = await sent.wait();
  t.is(receipt?.status, 1);
  t.deepEqual(await mined(sent.hash), { from: address.toLowerCase(), status: '0x1' });
  provider.destroy();
});

test.serial('viem walletClient with an http transport and a JSON-RPC account sends a transaction anvil mines', async (t) => {
  const chain = defineChain({ id: 31337, name: 'anvil', nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 }, rpcUrls: { default: { http: [url] } } });
  const wallet = createWalletClient({ account: address as Address, chain, transport: http(url) });
  const hash = await wallet.sendTransaction({ to: FRIEND, value: 10n ** 17n });
  const receipt = await createPublicClient({ chain, transport: http(anvil.url) }).waitForTransactionReceipt({ hash, pollingInterval: 100 });
  t.is(receipt.status, 'success');
  t.is(receipt.from.toLowerCase(), address.toLowerCase());
});

test.serial('personal_sign and eth_signTypedData_v4 (through ethers) verify with ethers', async (t) => {
  const provider = new JsonRpcProvider(url, undefined, { pollingInterval: 100 });
  const signer = await provider.getSigner(address);
  t.is(verifyMessage('hello from the signer', await signer.signMessage('hello from the signer')), address);
  const typed = await signer.signTypedData(MAIL.domain, MAIL.types, MAIL.value);
  t.is(verifyTypedData(MAIL.domain, MAIL.types, MAIL.value, typed), address);
  // eth_signTypedData is the same method; eth_sign takes [address, data].
  const payload = JSON.stringify(typedPayload());
  // HSM signatures are not deterministic: each one is checked on its own.
  t.is(verifyTypedData(MAIL.domain, MAIL.types, MAIL.value, (await rpc<string>(url, 'eth_signTypedData', [address, payload])).result!), address);
  t.is(verifyTypedData(MAIL.domain, MAIL.types, MAIL.value, (await rpc<string>(url, 'account_signTypedData', [address, JSON.parse(payload)])).result!), address);
  const ethSign = await rpc<string>(url, 'eth_sign', [address, hexlify(toUtf8Bytes('hello from the signer'))]);
  t.is(verifyMessage('hello from the signer', ethSign.result!), address);
  provider.destroy();
});

test.serial("Clef's account_signTransaction returns {raw, tx} that the node accepts", async (t) => {
  const reply = await rpc<{ raw: string; tx: Record<string, string> }>(url, 'account_signTransaction', [{ from: address, to: FRIEND, value: '0x1', gas: '0x5208' }]);
  const { raw, tx } = reply.result!;
  const parsed = Transaction.from(raw);
  t.is(parsed.from, address);
  t.is(tx.hash, parsed.hash ?? undefined);
  t.is(String(tx.to).toLowerCase(), FRIEND.toLowerCase());
  t.is(tx.gas, '0x5208');
  const hash = await anvil.call<string>('eth_sendRawTransaction', [raw]);
  t.deepEqual(await mined(hash), { from: address.toLowerCase(), status: '0x1' });
});

const cast = (args: string[]) =>
  promisify(execFile)(foundryBinary('cast'), args, { timeout: 60_000 }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
  );

test.serial('cast send --unlocked --from <our address> --rpc-url <ours> is mined; a denied transfer exits non-zero with our reason', async (t) => {
  const sent = await cast(['send', '--unlocked', '--from', address, '--rpc-url', url, FRIEND, '--value', '0.5ether', '--json']);
  t.is(sent.code, 0, sent.stderr);
  const receipt = JSON.parse(sent.stdout) as { transactionHash: string };
  t.deepEqual(await mined(receipt.transactionHash), { from: address.toLowerCase(), status: '0x1' });

  const denied = await cast(['send', '--unlocked', '--from', address, '--rpc-url', url, STRANGER, '--value', '0.5ether']);
  t.not(denied.code, 0);
  t.regex(denied.stderr, /RECIPIENT_NOT_ALLOWED/);
  t.regex(denied.stderr, /-32003/);
});

test.serial('cast rpc eth_sign / eth_signTypedData_v4 signatures verify with cast wallet verify', async (t) => {
  const message = 'signed through cast';
  const signed = await cast(['rpc', '--rpc-url', url, 'eth_sign', address, hexlify(toUtf8Bytes(message))]);
  t.is(signed.code, 0, signed.stderr);
  const signature = JSON.parse(signed.stdout) as string;
  const verified = await cast(['wallet', 'verify', '--address', address, message, signature]);
  t.is(verified.code, 0, verified.stderr);
  t.is(verifyMessage(message, signature), address);

  const typed = await cast(['rpc', '--rpc-url', url, 'eth_signTypedData_v4', address, JSON.stringify(typedPayload())]);
  t.is(typed.code, 0, typed.stderr);
  t.is(verifyTypedData(MAIL.domain, MAIL.types, MAIL.value, JSON.parse(typed.stdout) as string), address);
});

function typedPayload() {
  const EIP712Domain = ['string name', 'string version', 'uint256 chainId', 'address verifyingContract'].map((f) => ({ type: f.split(' ')[0]!, name: f.split(' ')[1]! }));
  return { types: { EIP712Domain, ...MAIL.types }, primaryType: 'Mail', domain: MAIL.domain, message: MAIL.value };
}
