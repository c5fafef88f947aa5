import {
  AbstractSigner,
  Transaction,
  TypedDataEncoder,
  copyRequest,
  getBytes,
  hexlify,
  makeError,
  resolveAddress,
  resolveProperties,
  toUtf8Bytes,
  type ActionRejectedError,
  type Provider,
  type TransactionLike,
  type TransactionRequest,
  type TypedDataDomain,
  type TypedDataField,
} from 'ethers';
import type { EthereumSignature__Output } from '../api/generated/signer/v1/EthereumSignature.js';
import type { SignEthereumTransactionResponse__Output } from '../api/generated/signer/v1/SignEthereumTransactionResponse.js';
import { waitUntilSigned } from './approval-wait.js';
import { ethereumKey } from './ethereum-key.js';
import type { RemoteSignerClient } from './signer-client.js';
import { SignerError } from './signer-error.js';

export interface RemoteSignerOptions {
  /**
   * How long to wait for approvers when the policy parks a request. 0 (the default) throws a
   * SignerError APPROVAL_PENDING with the request id at once.
   */
  approvalTimeoutMs?: number;
}

/** Approval outcomes that ethers callers know as ACTION_REJECTED, with ethers' own reason words. */
const REJECTED_REASONS: Partial<Record<SignerError['code'], ActionRejectedError['reason']>> = {
  APPROVAL_REJECTED: 'rejected',
  APPROVAL_EXPIRED: 'expired',
};

/**
 * An ethers v6 Signer whose key stays in the remote signer's HSM: switch a relayer by replacing
 * `new Wallet(privateKey, provider)` with `await RemoteEthersSigner.connect(client, "prod/relayer/hot-1", provider)`.
 * Like a Wallet, it knows its `address` from the start.
 */
export class RemoteEthersSigner extends AbstractSigner {
  /**
   * Reads the key's address from the service (GetKey) and returns a signer for it. Fails with a
   * SignerError (KEY_NOT_FOUND, ACCESS_DENIED, ...) or WRONG_KEY_TYPE for a key that is not secp256k1.
   */
  static async connect(client: RemoteSignerClient, keyName: string, provider: Provider | null = null, options: RemoteSignerOptions = {}): Promise<RemoteEthersSigner> {
    const { address } = await ethereumKey(client, keyName);
    return new RemoteEthersSigner(client, keyName, address, provider, options);
  }

  private constructor(
    private readonly client: RemoteSignerClient,
    readonly keyName: string,
    /** The key's EIP-55 address. */
    readonly address: string,
    provider: Provider | null,
    private readonly options: RemoteSignerOptions,
  ) {
    super(provider);
  }

  getAddress(): Promise<string> {
    return Promise.resolve(this.address);
  }

  /** The same key with another provider (ethers' Signer.connect). */
  connect(provider: Provider | null): RemoteEthersSigner {
    return new RemoteEthersSigner(this.client, this.keyName, this.address, provider, this.options);
  }

  async signTransaction(request: TransactionRequest): Promise<string> {
    // copyRequest reads each field by name: ethers' sendTransaction passes a Transaction, whose fields
    // are getters that a spread would drop.
    const tx = copyRequest(request);
    const { to, from } = await resolveProperties({
      to: tx.to ? resolveAddress(tx.to, this.provider) : undefined,
      from: tx.from ? resolveAddress(tx.from, this.provider) : undefined,
    });
    if (from && from.toLowerCase() !== this.address.toLowerCase()) {
      throw new Error(`transaction from ${from} does not match the signer's address`);
    }
    delete tx.from;
    const unsigned = Transaction.from({ ...tx, to } as TransactionLike<string>);
    return this.asEthersErrors('signTransaction', async () => {
      const response = await this.client.call<SignEthereumTransactionResponse__Output>('SignEthereumTransaction', {
        keyName: this.keyName,
        unsignedTransaction: getBytes(unsigned.unsignedSerialized),
      });
      if (response.pendingRequestId) {
        const final = await this.awaitApproval(response.pendingRequestId);
        return hexlify(final.transactionResult!.signedTransaction);
      }
      return hexlify(response.signedTransaction);
    });
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
    return this.asEthersErrors('signTypedData', async () => {
      const response = await this.client.call<EthereumSignature__Output>('SignTypedData', { keyName: this.keyName, typedDataJson: JSON.stringify(payload) });
      if (response.pendingRequestId) return hexlify((await this.awaitApproval(response.pendingRequestId)).typedDataResult!.signature);
      return hexlify(response.signature);
    });
  }

  private awaitApproval(id: string) {
    return waitUntilSigned(this.client, id, this.options.approvalTimeoutMs);
  }

  /**
   * Approvers saying no is, to ethers code, a user rejecting the action: ACTION_REJECTED, with the
   * SignerError as `error` and the parked request's id in `info`. Every other failure stays a SignerError.
   */
  private async asEthersErrors<T>(action: ActionRejectedError['action'], work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      const reason = error instanceof SignerError ? REJECTED_REASONS[error.code] : undefined;
      if (!reason) throw error;
      const signerError = error as SignerError;
      const rejected = makeError(signerError.message, 'ACTION_REJECTED', { action, reason, info: { pendingRequestId: signerError.pendingRequestId } });
      throw Object.assign(rejected, { error: signerError });
    }
  }
}
