import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { Command, Option } from 'commander';
import { loadSignerPackage, type SignerClient } from '../api/proto.js';

export interface ConnectionOptions {
  server: string;
  ca?: string;
  clientCert?: string;
  clientKey?: string;
  insecure?: boolean;
}

/** Adds the flags every command that talks to the service shares. */
export function withConnectionOptions(command: Command, identity = 'admin'): Command {
  return command
    .addOption(new Option('--server <address>', 'the signer to call').env('SIGNER_ADDRESS').default('localhost:50051'))
    .addOption(new Option('--ca <file>', 'CA certificate (PEM) of the server').env('SIGNER_CLIENT_CA').default('data/pki/ca.pem'))
    .addOption(new Option('--client-cert <file>', 'your client certificate (PEM)').env('SIGNER_CLIENT_CERT').default(`data/pki/${identity}.pem`))
    .addOption(new Option('--client-key <file>', 'your client private key (PEM)').env('SIGNER_CLIENT_KEY').default(`data/pki/${identity}-key.pem`))
    .option('--insecure', 'plaintext, for a service started with --insecure');
}

export function connect(options: ConnectionOptions): SignerClient {
  const { proto } = loadSignerPackage();
  const credentials = options.insecure
    ? grpc.credentials.createInsecure()
    : grpc.credentials.createSsl(readFileSync(options.ca!), readFileSync(options.clientKey!), readFileSync(options.clientCert!));
  return new proto.signer.v1.Signer(options.server, credentials);
}

/** One unary call with a deadline; rejects with the gRPC error. */
export function call<Response>(client: SignerClient, method: string, request: object): Promise<Response> {
  return new Promise((resolve, reject) => {
    const fn = (client as unknown as Record<string, Function>)[method]!;
    fn.call(client, request, { deadline: Date.now() + 30_000 }, (error: grpc.ServiceError | null, response: Response) =>
      error ? reject(error) : resolve(response),
    );
  });
}
