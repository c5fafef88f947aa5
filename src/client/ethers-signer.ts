import {
  AbstractSigner,
  Transaction,
  TypedDataEncoder,
  copyRequest,
  getBytes,
  hexlify,
  resolveAddress,
  resolveProperties,
  toUtf8Bytes,
  type Provider,
  type TransactionLike,
  type TransactionRequest,
  type TypedDataDomain,
  type TypedDataField,
} from 'ethers';
import type { EthereumSignature__Output } from '../api/generated/signer/v1/EthereumSignature.js';
import type { Key__Output } from '../api/generated/signer/v1/Key.js';
import type { SignEthereumTransactionResponse__Output } from '../api/generated/signer/v1/SignEthereumTransactionResponse.js';
import { waitUntilSigned } from './approval-wait.js';
import type { RemoteSignerClient } from './signer-client.js';

export interface RemoteSignerOptions {
  /**
   * How long to wait for approvers when the policy parks a request. 0 (the default) throws
   * SignRequestPendingError with the request id at once.
   */
  approvalTimeoutMs?: number;
}

/**
 * An ethers v6 Signer whose key stays in the remote signer's HSM: switch a relayer by replacing
 * `new Wallet(privateKey, provider)` with `new RemoteEthersSigner(client, "prod/relayer/hot-1", provider)`.
 */
export class RemoteEthersSigner extends AbstractSigner {
  private address?: Promise<string>;

  constructor(
    private readonly client: RemoteSignerClient,
    readonly keyName: string,
    provider: Provider | null = null,
    private readonly options: RemoteSignerOptions = {},
  ) {
    super(provider);
  }

  getAddress(): Promise<string> {
    this.address ??= this.client.call<Key__Output>('GetKey', { name: this.keyName }).then((key) => {
      if (!key.ethereumAddress) throw new Error(`key "${this.keyName}" is not a secp256k1 key`);
      return key.ethereumAddress;
    });
    return this.address;
  }

  connect(provider: Provider | null): RemoteEthersSigner {
    return new RemoteEthersSigner(this.client, this.keyName, provider, this.options);
  }

  async signTransaction(request: TransactionRequest): Promise<string> {
    // copyRequest reads each field by name: ethers' sendTransaction passes a Transaction, whose fields
    // are getters that a spread would drop.
    const tx = copyRequest(request);
    const { to, from } = await resolveProperties({
      to: tx.to ? resolveAddress(tx.to, this.provider) : undefined,
      from: tx.from ? resolveAddress(tx.from, this.provider) : undefined,
    });
    if (from && from.toLowerCase() !== (await this.getAddress()).toLowerCase()) {
      throw new Error(`transaction from ${from} does not match the signer's address`);
    }
    delete tx.from;
    const unsigned = Transaction.from({ ...tx, to } as TransactionLike<string>);
    const response = await this.client.call<SignEthereumTransactionResponse__Output>('SignEthereumTransaction', {
      keyName: this.keyName,
      unsignedTransaction: getBytes(unsigned.unsignedSerialized),
    });
    if (response.pendingRequestId) {
      const final = await this.awaitApproval(response.pendingRequestId);
      return hexlify(final.transactionResult!.signedTransaction);
    }
    return hexlify(response.signedTransaction);
  }

  async signMessage(message: string | Uint8Array): Promise<string> {
    const bytes = typeof message === 'string' ? toUtf8Bytes(message) : message;
    const response = await this.client.call<EthereumSignature__Output>('SignPersonalMessage', { keyName: this.keyName, message: bytes });
    return hexlify(response.signature);
  }

  async signTypedData(domain: TypedDataDomain, types: Record<string, TypedDataField[]>, value: Record<string, unknown>): Promise<string> {
    // ethers resolves ENS names and formats every value the way EIP-712 JSON expects.
    const resolved = await TypedDataEncoder.resolveNames(domain, types, value, (name) => resolveAddress(name, this.provider) as Promise<string>);
    const payload = TypedDataEncoder.getPayload(resolved.domain, types, resolved.value);
    const response = await this.client.call<EthereumSignature__Output>('SignTypedData', { keyName: this.keyName, typedDataJson: JSON.stringify(payload) });
    if (response.pendingRequestId) return hexlify((await this.awaitApproval(response.pendingRequestId)).typedDataResult!.signature);
    return hexlify(response.signature);
  }

  private awaitApproval(id: string) {
    return waitUntilSigned(this.client, id, this.options.approvalTimeoutMs);
  }
}
