import { Command, InvalidArgumentError } from 'commander';
import type { ListNonceClaimsResponse__Output } from '../api/generated/signer/v1/ListNonceClaimsResponse.js';
import type { NonceClaim__Output } from '../api/generated/signer/v1/NonceClaim.js';
import { call, withClient, withConnectionOptions, type ConnectionOptions } from './connection.js';
import { withExamples } from './help.js';
import { printJson } from './json-output.js';
import { formatTable, tableWidth } from './table.js';

/** A decimal integer as text: passed to the service as is (uint64 and chain ids exceed 2^53). */
function decimal(value: string): string {
  if (!/^(0|[1-9][0-9]*)$/.test(value)) throw new InvalidArgumentError('must be a decimal integer');
  return value;
}

/** `signer nonces list KEY` (ListNonceClaims) and `signer nonces release KEY --chain N --nonce N` (ReleaseNonceClaim). */
export function noncesCommand(): Command {
  return new Command('nonces')
    .description('list and release the nonces a key has signed transactions for (NONCE_REUSED)')
    .addCommand(noncesListCommand())
    .addCommand(noncesReleaseCommand());
}

function noncesListCommand(): Command {
  const command = new Command('list')
    .description('list the key\'s nonce claims by chain and nonce: the digest signed, its fee cap and priority fee in wei (reader or admin)')
    .argument('<key>', 'the key')
    .option('--chain <id>', 'only this chain', decimal)
    .option('--wide', 'every column in full (wider than 80 columns)')
    .option('--json', 'print a JSON array of claims');
  withExamples(command, ['signer nonces list prod/relayer/hot-1', 'signer nonces list prod/relayer/hot-1 --chain 1 --json | jq -r \'.[-1].nonce\'']);
  return withConnectionOptions(command).action(async (key: string, options: ConnectionOptions & { chain?: string; wide?: boolean; json?: boolean }) => {
    const { claims, truncated } = await withClient(options, (client) =>
      call<ListNonceClaimsResponse__Output>(client, 'ListNonceClaims', { keyName: key, chainId: options.chain ?? '' }),
    );
    // On standard error, so that --json stays the array of claims.
    if (truncated) console.error(`signer: only the last ${claims.length} claims are shown${options.chain ? '' : ' (--chain N shows one chain\'s)'}`);
    if (options.json) return printJson(claims);
    if (claims.length === 0) return console.log(`${key}: no nonce claims${options.chain ? ` on chain ${options.chain}` : ''}`);
    process.stdout.write(
      formatTable(
        ['CHAIN', 'NONCE', 'DIGEST', 'FEE CAP', 'PRIORITY FEE'],
        claims.map((c) => [c.chainId, c.nonce, c.digest, c.feeCap, c.priorityFee]),
        tableWidth(options.wide),
        // Numbers cut short would mislead; the digest is cut in the middle, keeping both ends.
        [0, 1, 3, 4],
      ),
    );
  });
}

function noncesReleaseCommand(): Command {
  const command = new Command('release')
    .description(
      'drop one nonce claim so that another transaction may be signed with that nonce: after a dev chain restart, or when the signed ' +
        'transaction was never broadcast (admin; audited)',
    )
    .argument('<key>', 'the key')
    .requiredOption('--chain <id>', 'the chain id of the claim', decimal)
    .requiredOption('--nonce <n>', 'the nonce of the claim', decimal)
    .option('--json', 'print the released claim as JSON');
  withExamples(command, ['signer nonces release prod/relayer/hot-1 --chain 11155111 --nonce 42']);
  return withConnectionOptions(command).action(async (key: string, options: ConnectionOptions & { chain: string; nonce: string; json?: boolean }) => {
    const claim = await withClient(options, (client) =>
      call<NonceClaim__Output>(client, 'ReleaseNonceClaim', { keyName: key, chainId: options.chain, nonce: options.nonce }),
    );
    if (options.json) return printJson(claim);
    console.log(`${key}: released nonce ${claim.nonce} on chain ${claim.chainId} (was ${claim.digest}). The next transaction with that nonce signs.`);
  });
}
