import {
  bytesToHex,
  getAddress,
  getTypesForEIP712Domain,
  hexToBytes,
  serializeTransaction,
  stringToBytes,
  type Hex,
  type LocalAccount,
  type SerializeTransactionFn,
  type SignableMessage,
  type TransactionSerializable,
  type TypedDataDefinition,
} from 'viem';
import { toAccount } from 'viem/accounts';
import type { EthereumSignature__Output } from '../api/generated/signer/v1/EthereumSignature.js';
import type { SignEthereumTransactionResponse__Output } from '../api/generated/signer/v1/SignEthereumTransactionResponse.js';
import { waitUntilSigned } from './approval-wait.js';
import { ethereumKey } from './ethereum-key.js';
import type { RemoteSignerClient } from './signer-client.js';

export interface RemoteViemAccountOptions {
  /**
   * How long to wait for approvers when the policy parks a request. 0 (the default) throws
   * a SignerError APPROVAL_PENDING with the request id at once.
   */
  approvalTimeoutMs?: number;
}

/** A viem LocalAccount whose key stays in the signer's HSM; `source` is "remote-signer". */
export type RemoteViemAccount = LocalAccount<'remote-signer'> & { keyName: string };

/**
 * A viem account backed by the service: use it wherever viem takes an account
 * (`createWalletClient({ account, ... })`, `sendTransaction`, `signMessage`, `signTypedData`).
 * Async because the address and public key are read from the service (GetKey) up front: viem reads
 * `account.address` synchronously.
 */
export async function createRemoteViemAccount(
  client: RemoteSignerClient,
  keyName: string,
  options: RemoteViemAccountOptions = {},
): Promise<RemoteViemAccount> {
  const { key, address } = await ethereumKey(client, keyName);
  const wait = (id: string) => waitUntilSigned(client, id, options.approvalTimeoutMs);

  const account = toAccount({
    address: getAddress(address),

    async signTransaction(transaction, { serializer } = {}) {
      // The service decodes exactly these bytes, checks them against the policy and signs their keccak-256.
      const serialize = (serializer ?? serializeTransaction) as SerializeTransactionFn<TransactionSerializable>;
      const unsigned = hexToBytes(await serialize(transaction as TransactionSerializable));
      const response = await client.call<SignEthereumTransactionResponse__Output>('SignEthereumTransaction', {
        keyName,
        unsignedTransaction: unsigned,
      });
      const signed = response.pendingRequestId ? (await wait(response.pendingRequestId)).transactionResult!.signedTransaction : response.signedTransaction;
      return bytesToHex(signed);
    },

    async signMessage({ message }) {
      const response = await client.call<EthereumSignature__Output>('SignPersonalMessage', { keyName, message: messageBytes(message) });
      return bytesToHex(response.signature);
    },

    async signTypedData(typedData) {
      const response = await client.call<EthereumSignature__Output>('SignTypedData', { keyName, typedDataJson: typedDataJson(typedData as TypedDataDefinition) });
      const signature = response.pendingRequestId ? (await wait(response.pendingRequestId)).typedDataResult!.signature : response.signature;
      return bytesToHex(signature);
    },
  });
  return { ...account, publicKey: publicKeyHex(key.publicJwk), source: 'remote-signer', keyName };
}

/** viem's SignableMessage: a UTF-8 string, or `{ raw }` bytes (hex or Uint8Array). The service adds the EIP-191 prefix. */
function messageBytes(message: SignableMessage): Uint8Array {
  if (typeof message === 'string') return stringToBytes(message);
  return typeof message.raw === 'string' ? hexToBytes(message.raw) : message.raw;
}

/**
 * EIP-712 JSON as the service reads it. EIP712Domain is written out the way viem derives it from the
 * domain, so the service hashes the very types viem would. Integers go as decimal strings (bigints
 * do not survive JSON), bytes as 0x hex.
 */
function typedDataJson(typedData: TypedDataDefinition): string {
  const { domain = {}, types, primaryType, message } = typedData as TypedDataDefinition & { domain?: Record<string, unknown> };
  const allTypes = { EIP712Domain: getTypesForEIP712Domain({ domain }), ...types };
  return JSON.stringify({ types: allTypes, primaryType, domain, message: message ?? {} }, (_key, value: unknown) => {
    if (typeof value === 'bigint') return value.toString();
    if (value instanceof Uint8Array) return bytesToHex(value);
    return value;
  });
}

/** The uncompressed secp256k1 point (0x04 || x || y), as viem's privateKeyToAccount exposes it. */
function publicKeyHex(publicJwk: string): Hex {
  const { x, y } = JSON.parse(publicJwk) as { x: string; y: string };
  return bytesToHex(new Uint8Array([4, ...Buffer.from(x, 'base64url'), ...Buffer.from(y, 'base64url')]));
}
