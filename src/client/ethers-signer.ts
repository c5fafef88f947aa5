import {
  AbstractSigner,
  Transaction,
  TypedDataEncoder,
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
import { SignRequestPendingError, type RemoteSignerClient } from './signer-client.js';

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
    const resolved = await resolveProperties({
      ...request,
      to: request.to ? resolveAddress(request.to, this.provider) : undefined,
      from: request.from ? resolveAddress(request.from, this.provider) : undefined,
    });
    if (resolved.from && resolved.from.toLowerCase() !== (await this.getAddress()).toLowerCase()) {
      throw new Error(`transaction from ${resolved.from} does not match the signer's address`);
    }
    const { from: _from, ...fields } = resolved;
    const unsigned = Transaction.from(fields as TransactionLike<string>);
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

  private async awaitApproval(id: string) {
    const timeoutMs = this.options.approvalTimeoutMs ?? 0;
    if (timeoutMs <= 0) throw new SignRequestPendingError(id, '', `sign request ${id} is waiting for approval`);
    const final = await this.client.waitForSignature(id, timeoutMs);
    if (final.status !== 'signed') throw new Error(`sign request ${id} was ${final.status}${final.reason ? `: ${final.reason}` : ''}`);
    return final;
  }
}
