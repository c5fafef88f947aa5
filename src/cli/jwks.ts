import { Command } from 'commander';
import type { GetJwksResponse__Output } from '../api/generated/signer/v1/GetJwksResponse.js';
import { call, withClient, withConnectionOptions, type ConnectionOptions } from './connection.js';
import { withExamples } from './help.js';
import { printJson } from './json-output.js';
import { formatTable, tableWidth } from './table.js';

interface Jwk {
  kid: string;
  alg: string;
  kty: string;
  crv?: string;
}

/** `signer jwks [KEY]`: the JWK Set verifiers use (GetJwks), of every JWT key or of one. */
export function jwksCommand(): Command {
  const command = new Command('jwks')
    .description('print the JWK Set (public keys only) of every JWT key, or of one; the same set is served over HTTP')
    .argument('[key]', 'only this JWT key')
    .option('--json', 'print the JWK Set as JSON (the default)')
    .option('--table', 'one line per key (kid, alg, type) instead of the JSON set')
    .option('--wide', 'with --table: whole kids');
  withExamples(command, ['signer jwks', 'signer jwks prod/backend/jwt-1 > jwks.json', 'signer jwks --table']);
  return withConnectionOptions(command).action(async (key: string | undefined, options: ConnectionOptions & { json?: boolean; table?: boolean; wide?: boolean }) => {
    const response = await withClient(options, (client) => call<GetJwksResponse__Output>(client, 'GetJwks', { keyName: key ?? '' }));
    const jwks = JSON.parse(response.jwksJson) as { keys: Jwk[] };
    // A JWK Set is itself the script-friendly form, so JSON is the default here.
    if (options.json || !options.table) return printJson(jwks);
    if (jwks.keys.length === 0) return console.log('no JWT keys are published');
    process.stdout.write(formatTable(['KID', 'ALG', 'KTY'], jwks.keys.map((k) => [k.kid, k.alg, k.crv ? `${k.kty} ${k.crv}` : k.kty]), tableWidth(options.wide)));
  });
}
