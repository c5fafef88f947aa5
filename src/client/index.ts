/** The client library: a typed gRPC client and an ethers v6 signer. */
export { RemoteSignerClient, SignRequestPendingError, type ClientOptions } from './signer-client.js';
export { RemoteEthersSigner, type RemoteSignerOptions } from './ethers-signer.js';
