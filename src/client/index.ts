/**
 * The whole client library. It imports both ethers and viem (optional peer dependencies); with only one
 * of them installed, import `hsm-remote-signer/client/core` and `hsm-remote-signer/client/ethers` or `.../viem`.
 */
export * from './core.js';
export { RemoteEthersSigner, type RemoteSignerOptions } from './ethers-signer.js';
export { createRemoteViemAccount, type RemoteViemAccount, type RemoteViemAccountOptions } from './viem-account.js';
