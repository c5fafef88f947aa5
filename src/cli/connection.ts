import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { RemoteSignerClient } from '../client/signer-client.js';
import { dataDirOption } from './database-option.js';

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
    .addOption(new Option('--ca <file>', 'CA certificate (PEM) of the server (default: <data-dir>/pki/ca.pem)').env('SIGNER_CLIENT_CA'))
    .addOption(new Option('--client-cert <file>', `your client certificate (PEM) (default: <data-dir>/pki/${identity}.pem)`).env('SIGNER_CLIENT_CERT'))
    .addOption(new Option('--client-key <file>', `your client private key (PEM) (default: <data-dir>/pki/${identity}-key.pem)`).env('SIGNER_CLIENT_KEY'))
    .addOption(dataDirOption())
    .option('--insecure', 'plaintext, for a service started with --insecure')
    .hook('preAction', (_, action) => {
      // The development PKI the service wrote into its data directory, unless files are given.
      const options = action.opts<ConnectionOptions & { dataDir: string }>();
      const pki = join(options.dataDir, 'pki');
      action.setOptionValue('ca', options.ca ?? join(pki, 'ca.pem'));
      action.setOptionValue('clientCert', options.clientCert ?? join(pki, `${identity}.pem`));
      action.setOptionValue('clientKey', options.clientKey ?? join(pki, `${identity}-key.pem`));
    });
}

export function connect(options: ConnectionOptions): RemoteSignerClient {
  if (!options.insecure) {
    // Named here: the client library would only say ENOENT.
    for (const [flag, file] of [['--ca', options.ca], ['--client-cert', options.clientCert], ['--client-key', options.clientKey]] as const) {
      if (!file || !existsSync(file)) throw new Error(`${flag} ${file ?? ''}: no such file (give mTLS files, or --insecure for a service started with --insecure)`);
    }
  }
  return new RemoteSignerClient({
    address: options.server,
    tls: options.insecure ? 'insecure' : { ca: options.ca!, cert: options.clientCert!, key: options.clientKey! },
  });
}

/** Runs `work` with a connected client and closes it afterwards, whatever happens. */
export async function withClient<T>(options: ConnectionOptions, work: (client: RemoteSignerClient) => Promise<T>): Promise<T> {
  const client = connect(options);
  try {
    return await work(client);
  } finally {
    client.close();
  }
}

/** One call through the client library (deadline, retries of idempotent calls). */
export function call<Response>(client: RemoteSignerClient, method: string, request: object): Promise<Response> {
  return client.call<Response>(method, request);
}
