import { Command, Option } from 'commander';
import type { EthereumSignature__Output } from '../api/generated/signer/v1/EthereumSignature.js';
import type { SignBytesResponse__Output } from '../api/generated/signer/v1/SignBytesResponse.js';
import type { SignEthereumTransactionResponse__Output } from '../api/generated/signer/v1/SignEthereumTransactionResponse.js';
import type { SignJwtResponse__Output } from '../api/generated/signer/v1/SignJwtResponse.js';
import { BYTES_ALGORITHMS } from '../schemes/raw-bytes.js';
import { call, withClient, withConnectionOptions, type ConnectionOptions } from './connection.js';
import { withExamples } from './help.js';
import { printJson } from './json-output.js';
import { flagOrStdin, hexInput, jsonObjectInput } from './read-input.js';

/** Exit status when the request was parked for approval rather than signed (as `policy check`). */
const EXIT_PARKED = 3;

interface SignOptions extends ConnectionOptions {
  json?: boolean;
  requestId?: string;
}

const hex = (bytes: Uint8Array) => '0x' + Buffer.from(bytes).toString('hex');

/**
 * `signer sign tx|message|typed-data|bytes|jwt KEY`: one signature from the running service, with
 * the same checks as any client's. People get the signature alone on standard output (ready for a
 * pipe); --json gets every field of the reply.
 */
export function signCommand(): Command {
  return new Command('sign')
    .description('sign with a key on the running signer (input from a flag or standard input)')
    .addCommand(signTx())
    .addCommand(signMessage())
    .addCommand(signTypedData())
    .addCommand(signBytes())
    .addCommand(signJwt());
}

/** The flags and arguments every sign subcommand shares; the client identity defaults to the relayer's. */
function signSubcommand(name: string, description: string, identity: string): Command {
  const command = new Command(name)
    .description(description)
    .argument('<key>', 'the key to sign with')
    .option('--request-id <id>', 'idempotency id: a retry with the same id returns the same signature (default: a fresh one)')
    .option('--json', 'print the whole reply as JSON');
  return withConnectionOptions(command, identity);
}

/** Prints the parked request's id and sets exit status 3; the approvers take it from there. */
function parked(id: string, options: SignOptions): void {
  if (options.json) printJson({ pendingRequestId: id });
  else console.log(`parked for approval: request ${id} (follow it with: signer approvals show ${id})`);
  process.exitCode = EXIT_PARKED;
}

const withRequestId = (options: SignOptions) => (options.requestId ? { requestId: options.requestId } : {});

function signTx(): Command {
  const command = signSubcommand('tx', 'sign an unsigned Ethereum transaction (0x hex); prints the signed transaction', 'relayer').option('--tx <hex>', 'the unsigned serialized transaction (default: standard input)');
  withExamples(command, ['signer sign tx dev/relayer/hot-1 --tx 0x02e5...', 'cast mktx ... | signer sign tx dev/relayer/hot-1 --json']);
  return command.action(async (key: string, options: SignOptions & { tx?: string }) => {
    const unsignedTransaction = hexInput(await flagOrStdin(options.tx, '--tx'), '--tx');
    const reply = await withClient(options, (client) => call<SignEthereumTransactionResponse__Output>(client, 'SignEthereumTransaction', { keyName: key, unsignedTransaction, ...withRequestId(options) }));
    if (reply.pendingRequestId) return parked(reply.pendingRequestId, options);
    if (options.json) return printJson({ signedTransaction: reply.signedTransaction, transactionHash: reply.transactionHash, r: reply.r, s: reply.s, yParity: reply.yParity, ...(reply.v ? { v: reply.v } : {}) });
    console.log(hex(reply.signedTransaction));
  });
}

function ethereumSignature(reply: EthereumSignature__Output, options: SignOptions): void {
  if (reply.pendingRequestId) return parked(reply.pendingRequestId, options);
  if (options.json) return printJson({ signature: reply.signature, r: reply.r, s: reply.s, yParity: reply.yParity, digest: reply.digest });
  console.log(hex(reply.signature));
}

function signMessage(): Command {
  const command = signSubcommand('message', 'sign an EIP-191 personal message; prints the 65-byte signature', 'relayer')
    .option('--message <text>', 'the message as UTF-8 text (default: standard input, as is)')
    .option('--hex', 'the message is 0x hex bytes, not text');
  withExamples(command, ['signer sign message dev/relayer/hot-1 --message "gm"', 'printf gm | signer sign message dev/relayer/hot-1 --json']);
  return command.action(async (key: string, options: SignOptions & { message?: string; hex?: boolean }) => {
    const text = await flagOrStdin(options.message, '--message');
    const message = options.hex ? hexInput(text, '--message') : Buffer.from(text, 'utf8');
    ethereumSignature(await withClient(options, (client) => call<EthereumSignature__Output>(client, 'SignPersonalMessage', { keyName: key, message, ...withRequestId(options) })), options);
  });
}

function signTypedData(): Command {
  const command = signSubcommand('typed-data', 'sign EIP-712 typed data (JSON: types, primaryType, domain, message); prints the 65-byte signature', 'relayer').option(
    '--typed-data <json>',
    'the typed data JSON (default: standard input)',
  );
  withExamples(command, ['signer sign typed-data dev/relayer/hot-1 < permit.json', 'signer sign typed-data dev/relayer/hot-1 --typed-data "$(cat mail.json)" --json']);
  return command.action(async (key: string, options: SignOptions & { typedData?: string }) => {
    const typedDataJson = jsonObjectInput(await flagOrStdin(options.typedData, '--typed-data'), '--typed-data');
    ethereumSignature(await withClient(options, (client) => call<EthereumSignature__Output>(client, 'SignTypedData', { keyName: key, typedDataJson, ...withRequestId(options) })), options);
  });
}

function signBytes(): Command {
  const command = signSubcommand('bytes', 'sign raw bytes with an ed25519, p256 or rsa key (if its policy enables raw_bytes); prints the signature', 'relayer')
    .option('--bytes <hex>', 'the message, 0x hex (default: standard input)')
    .addOption(new Option('--algorithm <name>', 'needed for rsa keys; ed25519 and p256 keys have one').choices([...BYTES_ALGORITHMS]));
  withExamples(command, ['signer sign bytes dev/service/ed-1 --bytes 0x68656c6c6f', 'signer sign bytes dev/service/rsa-1 --algorithm rsa-pss-sha256 --bytes 0x01 --json']);
  return command.action(async (key: string, options: SignOptions & { bytes?: string; algorithm?: string }) => {
    const message = hexInput(await flagOrStdin(options.bytes, '--bytes'), '--bytes');
    const algorithm = options.algorithm ? { algorithm: `SIGN_BYTES_ALGORITHM_${options.algorithm.toUpperCase().replace(/-/g, '_')}` } : {};
    const reply = await withClient(options, (client) => call<SignBytesResponse__Output>(client, 'SignBytes', { keyName: key, message, ...algorithm, ...withRequestId(options) }));
    const name = String(reply.algorithm).replace('SIGN_BYTES_ALGORITHM_', '').toLowerCase().replace(/_/g, '-');
    if (options.json) return printJson({ algorithm: name, signature: reply.signature });
    console.log(hex(reply.signature));
  });
}

function signJwt(): Command {
  const command = signSubcommand('jwt', 'sign JWT claims (a JSON object) with a JWT key; prints the compact token', 'backend').option('--claims <json>', 'the claims (default: standard input)');
  withExamples(command, ['signer sign jwt dev/backend/jwt-1 --claims \'{"iss":"https://auth.example.com","sub":"user-1","aud":"api"}\'']);
  return command.action(async (key: string, options: SignOptions & { claims?: string }) => {
    const claimsJson = jsonObjectInput(await flagOrStdin(options.claims, '--claims'), '--claims');
    const reply = await withClient(options, (client) => call<SignJwtResponse__Output>(client, 'SignJwt', { keyName: key, claimsJson, ...withRequestId(options) }));
    if (options.json) return printJson({ token: reply.token, kid: reply.kid, expireTime: reply.expireTime });
    console.log(reply.token);
  });
}
