/** The part of the client library that needs neither ethers nor viem: the gRPC client, its errors and the JWT signer. */
export { RemoteSignerClient, type ClientOptions } from './signer-client.js';
export type { SignBatchItemResult } from './batch-results.js';
export { SignerError, CLIENT_ERROR_CODES, type ClientErrorCode, type SignerErrorCode, type SignerErrorDetails } from './signer-error.js';
export { ERROR_CODES, type ErrorCode } from '../domain/errors.js';
export { RemoteJwtSigner, defaultJwksUrl, type RemoteJwtSignerOptions, type SignJwtOptions, type SignedJwt } from './jwt-signer.js';
