import { Command } from 'commander';
import type { JwtKey__Output } from '../api/generated/signer/v1/JwtKey.js';
import { call, connect, withConnectionOptions, type ConnectionOptions } from './connection.js';

/** `signer keys rotate NAME`: publishes a new version of a JWT key (RotateKey). */
export function keysRotateCommand(): Command {
  return withConnectionOptions(
    new Command('rotate')
      .description('publish a new version of a JWT key; it signs once it has been in the JWKS for publish-ahead')
      .argument('<name>', 'the JWT key')
      .option('--json', 'print the key and its versions as JSON'),
  ).action(async (name: string, options: ConnectionOptions & { json?: boolean }) => {
    const client = connect(options);
    try {
      const key = await call<JwtKey__Output>(client, 'RotateKey', { name });
      if (options.json) return console.log(JSON.stringify(key));
      console.log(`${key.key!.name} (${key.algorithm.replace('JWT_ALGORITHM_', '')})`);
      console.log('version  state      kid                                          published                 active since');
      for (const v of key.versions) {
        console.log(`${String(v.version).padEnd(8)} ${v.state.padEnd(10)} ${v.kid.padEnd(44)} ${v.publishTime.padEnd(25)} ${v.activateTime || '-'}`);
      }
    } finally {
      client.close();
    }
  });
}
