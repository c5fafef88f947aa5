/** The part of the client library that needs neither ethers nor viem: the gRPC client and the JWT signer. */
export { RemoteSignerClient, SignRequestPendingError, type ClientOptions } from './signer-client.js';
export { RemoteJwtSigner, defaultJwksUrl, type RemoteJwtSignerOptions, type SignJwtOptions, type SignedJwt } from './jwt-signer.js';
