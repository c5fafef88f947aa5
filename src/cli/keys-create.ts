import { Command, InvalidArgumentError, Option } from 'commander';
import type { Key__Output } from '../api/generated/signer/v1/Key.js';
import type { JwtKey__Output } from '../api/generated/signer/v1/JwtKey.js';
import { parseDuration } from '../domain/amount.js';
import { JWT_ALGORITHM_INFO, JWT_ALGORITHMS, type JwtAlgorithm } from '../domain/jwt.js';
import { validateKeyName, validateLabels } from '../domain/key-name.js';
import { KEY_TYPES, type KeyType } from '../domain/key-types.js';
import { call, withClient, withConnectionOptions, type ConnectionOptions } from './connection.js';
import { withExamples } from './help.js';
import { printJson } from './json-output.js';
import { CLI_KEY_TYPES, formatKeyDetails, keyView } from './key-view.js';

interface CreateOptions extends ConnectionOptions {
  type?: KeyType;
  label: Record<string, string>;
  jwt?: JwtAlgorithm;
  rotationPeriod?: string;
  publishAhead?: string;
  verificationGrace?: string;
  clockSkew?: string;
  defaultTtl?: string;
  json?: boolean;
}

/** Options that only CreateJwtKey has, with the request field each fills. */
const JWT_DURATIONS = [
  ['rotationPeriod', '--rotation-period', 'rotate automatically this long after a version became active (default: manual only)'],
  ['publishAhead', '--publish-ahead', 'how long a rotated-in version is in the JWKS before it signs (default 10m; the first version signs at once)'],
  ['verificationGrace', '--verification-grace', 'how long a retiring version stays in the JWKS after its last token expired (default 5m)'],
  ['clockSkew', '--clock-skew', 'allowed clock difference with verifiers (default 1m)'],
  ['defaultTtl', '--default-ttl', 'exp when the caller sends none: iat + this (default 15m)'],
] as const;

/** `signer keys create NAME`: a key pair generated in the HSM (CreateKey), or a JWT key with versions (CreateJwtKey). */
export function keysCreateCommand(): Command {
  const command = new Command('create')
    .description('generate a key pair inside the HSM (CreateKey), or with --jwt a JWT key with versions (CreateJwtKey)')
    .argument('<name>', 'path-like name, e.g. prod/relayer/hot-1', keyNameArgument)
    .addOption(new Option('--type <type>', 'key type (required without --jwt; with RS256/PS256 picks the RSA size)').choices([...KEY_TYPES]))
    .addOption(new Option('--label <key=value>', 'a label, repeatable (conventionally env, service, owner, purpose)').argParser(collectLabel).default({}, 'none'))
    .addOption(new Option('--jwt <algorithm>', 'create a JWT key signing with this algorithm').choices([...JWT_ALGORITHMS]));
  for (const [, flag, description] of JWT_DURATIONS) command.addOption(new Option(`${flag} <duration>`, `with --jwt: ${description}`).argParser(durationArgument));
  command.option('--json', 'print the new key as JSON');
  withExamples(command, [
    'signer keys create prod/relayer/hot-1 --type secp256k1 --label env=prod --label owner=payments',
    'signer keys create prod/backend/ed --type ed25519',
    'signer keys create prod/backend/jwt-1 --jwt ES256 --rotation-period 30d --publish-ahead 10m',
    'signer keys create prod/backend/jwt-rsa --jwt PS256 --type rsa3072 --json',
  ]);
  return withConnectionOptions(command).action(async (name: string, options: CreateOptions) => {
    const request = options.jwt ? jwtKeyRequest(name, options.jwt, options) : keyRequest(name, options);
    const created = await withClient(options, async (client) =>
      options.jwt ? (await call<JwtKey__Output>(client, 'CreateJwtKey', request)).key! : call<Key__Output>(client, 'CreateKey', request),
    );
    const view = keyView(created);
    if (options.json) return printJson(view);
    process.stdout.write(`created ${formatKeyDetails(view)}`);
  });
}

function keyRequest(name: string, options: CreateOptions): object {
  if (!options.type) throw new Error(`--type is required: one of ${KEY_TYPES.join(', ')} (or --jwt for a JWT key)`);
  const jwtOnly = JWT_DURATIONS.find(([option]) => options[option] !== undefined);
  if (jwtOnly) throw new Error(`${jwtOnly[1]} is for JWT keys: add --jwt <algorithm>`);
  return { name, type: CLI_KEY_TYPES[options.type], labels: options.label };
}

function jwtKeyRequest(name: string, algorithm: JwtAlgorithm, options: CreateOptions): object {
  const { keyTypes } = JWT_ALGORITHM_INFO[algorithm];
  if (options.type && !keyTypes.includes(options.type)) throw new Error(`--jwt ${algorithm} needs --type ${keyTypes.join(' or ')} (got ${options.type})`);
  return {
    name,
    algorithm: `JWT_ALGORITHM_${algorithm.toUpperCase()}`,
    labels: options.label,
    ...(options.type ? { keyType: CLI_KEY_TYPES[options.type] } : {}),
    ...Object.fromEntries(JWT_DURATIONS.filter(([option]) => options[option] !== undefined).map(([option]) => [option, options[option]])),
  };
}

/** Checked here as the service would, so a typo costs no round trip and names the flag. */
function keyNameArgument(name: string): string {
  try {
    return validateKeyName(name, 'name');
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

function collectLabel(text: string, labels: Record<string, string>): Record<string, string> {
  const at = text.indexOf('=');
  if (at <= 0) throw new InvalidArgumentError('expected key=value, e.g. env=prod');
  const key = text.slice(0, at);
  if (key in labels) throw new InvalidArgumentError(`label "${key}" given twice`);
  const next = { ...labels, [key]: text.slice(at + 1) };
  try {
    validateLabels(next);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
  return next;
}

function durationArgument(text: string): string {
  if (text === '0s') return text;
  try {
    parseDuration(text);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
  return text;
}
