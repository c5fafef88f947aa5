import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';
import * as grpc from '@grpc/grpc-js';
import type { ProtoGrpcType } from './generated/signer.js';

/** The one place that loads the contract. Types are generated from it by `npm run gen:proto`. */
export const PROTO_DIR = fileURLToPath(new URL('../../../proto', import.meta.url));
export const SIGNER_PROTO = 'signer/v1/signer.proto';
export const SIGNER_SERVICE_NAME = 'signer.v1.Signer';

// These options must match the gen:proto script, so that the generated types describe the objects.
export const LOADER_OPTIONS: protoLoader.Options = {
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

export function loadSignerPackage(): { definition: protoLoader.PackageDefinition; proto: ProtoGrpcType } {
  const definition = protoLoader.loadSync(SIGNER_PROTO, LOADER_OPTIONS);
  return { definition, proto: grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType };
}

export type { SignerClient, SignerHandlers } from './generated/signer/v1/Signer.js';
export type { Key } from './generated/signer/v1/Key.js';
export type { KeyType__Output as ProtoKeyType } from './generated/signer/v1/KeyType.js';
export type { SignBytesAlgorithm__Output as ProtoSignBytesAlgorithm } from './generated/signer/v1/SignBytesAlgorithm.js';
