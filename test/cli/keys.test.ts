import { createPublicKey } from 'node:crypto';
import test from 'ava';
import { status } from '@grpc/grpc-js';
import { computeAddress } from 'ethers';
import { createLocalJWKSet, jwtVerify } from 'jose';
import type { Key__Output } from '../../src/api/generated/signer/v1/Key.js';
import type { ListKeysResponse__Output } from '../../src/api/generated/signer/v1/ListKeysResponse.js';
import type { GetJwksResponse__Output } from '../../src/api/generated/signer/v1/GetJwksResponse.js';
import type { SignJwtResponse__Output } from '../../src/api/generated/signer/v1/SignJwtResponse.js';
import type { KeyView } from '../../src/cli/key-view.js';
import { runCli } from '../helpers/cli.js';
import { PERMISSIVE_POLICY, rpcFailure, startTestSigner, type TestSigner } from '../helpers/signer.js';

const JWT_POLICY = `
key: "cli/jwt-*"
jwt:
  issuers: ["https://auth.example.com"]
  audiences: ["api.example.com"]
  max_ttl: 1h
`;

let t0: TestSigner;
test.before(async () => {
  t0 = await startTestSigner({}, { 'test.yaml': PERMISSIVE_POLICY.replace('key: "**"', 'key: "cli/hot-*"'), 'jwt.yaml': JWT_POLICY });
});
test.after.always(async () => t0?.stop());

const signer = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli([...args, '--server', `127.0.0.1:${t0.signer.port}`, '--insecure'], { env });
const keyNames = async () => (await t0.call<ListKeysResponse__Output>('ListKeys', { pageSize: 1000 })).keys.map((k) => k.name);

test.serial('keys create --json: a secp256k1 key whose address, PEM and JWK agree, with its labels', async (t) => {
  const result = await signer(['keys', 'create', 'cli/hot-1', '--type', 'secp256k1', '--label', 'env=test', '--label', 'owner=ops', '--json']);
  t.is(result.code, 0, result.stderr);
  const key = JSON.parse(result.stdout) as KeyView;
  t.like(key, { name: 'cli/hot-1', type: 'secp256k1', state: 'enabled', labels: { env: 'test', owner: 'ops' }, useCount: 0 });
  t.false('lastUsedTime' in key);
  // The address is the one ethers derives from the public point, and the PEM is the same point.
  const jwk = key.publicJwk as { x: string; y: string };
  const point = '0x04' + Buffer.from(jwk.x, 'base64url').toString('hex') + Buffer.from(jwk.y, 'base64url').toString('hex');
  t.is(key.ethereumAddress, computeAddress(point));
  const fromPem = createPublicKey(key.publicKeyPem).export({ format: 'jwk' });
  t.like(fromPem, { kty: 'EC', crv: 'secp256k1', x: jwk.x, y: jwk.y });
  for (const secret of ['d', 'p', 'q']) t.false(secret in key.publicJwk);
  // The service has it, as the CLI said.
  t.like(await t0.call<Key__Output>('GetKey', { name: 'cli/hot-1' }), { ethereumAddress: key.ethereumAddress, labels: { env: 'test', owner: 'ops' } });
});

test.serial('keys create prints the key for people; keys list prints a table in name order and --json an array', async (t) => {
  const created = await signer(['keys', 'create', 'cli/hot-0', '--type', 'ed25519']);
  t.is(created.code, 0, created.stderr);
  t.regex(created.stdout, /^created cli\/hot-0\n  type: +ed25519\n  state: +enabled\n/);
  t.notRegex(created.stdout, /address:/);
  t.regex(created.stdout, /-----BEGIN PUBLIC KEY-----\n[A-Za-z0-9+/=\n]+-----END PUBLIC KEY-----\n$/);

  const table = await signer(['keys', 'list', '--wide']);
  t.is(table.code, 0, table.stderr);
  const [header, ...rows] = table.stdout.trimEnd().split('\n');
  t.regex(header!, /^NAME +TYPE +STATE +ADDRESS +LABELS +CREATED +LAST USED +USES$/);
  t.deepEqual(rows.map((row) => row.split(/ +/)[0]), ['cli/hot-0', 'cli/hot-1']);
  t.regex(rows[1]!, /^cli\/hot-1 +secp256k1 +enabled +0x[0-9a-fA-F]{40} +env=test,owner=ops +\S+Z +never +0$/);
  // Columns line up: every row's TYPE starts where the header's does.
  for (const row of rows) t.is(row.indexOf(row.split(/ +/)[1]!), header!.indexOf('TYPE'));

  // Without --wide the table fits 80 columns: no times (keys show has them).
  const narrow = await signer(['keys', 'list']);
  const narrowRows = narrow.stdout.trimEnd().split('\n');
  for (const row of narrowRows) t.true(row.length <= 80, row);
  t.regex(narrowRows[0]!, /^NAME +TYPE +STATE +ADDRESS +LABELS +USES$/);
  t.regex(narrowRows[2]!, /^cli\/hot-1 +secp256k1 +enabled +0x[0-9a-fA-F]{6,}…[0-9a-fA-F]{6,} +env=test,owner=ops +0$/);

  const json = await signer(['keys', 'list', '--json']);
  const listed = JSON.parse(json.stdout) as KeyView[];
  t.deepEqual(listed.map((k) => k.name), await keyNames());
});

test.serial('keys show: every field for people, the same view as create with --json', async (t) => {
  const shown = await signer(['keys', 'show', 'cli/hot-1']);
  t.is(shown.code, 0, shown.stderr);
  t.regex(shown.stdout, /^cli\/hot-1\n  type: +secp256k1\n  state: +enabled\n  address: +0x[0-9a-fA-F]{40}\n  labels: +env=test,owner=ops\n  created: +\S+\n  last used: +never\n  signatures: +0\n  public JWK: +\{"kty":"EC"/);
  const json = JSON.parse((await signer(['keys', 'show', 'cli/hot-1', '--json'])).stdout) as KeyView;
  const key = await t0.call<Key__Output>('GetKey', { name: 'cli/hot-1' });
  t.is(json.ethereumAddress, key.ethereumAddress);
  t.is(json.createTime, key.createTime);
  t.deepEqual(json.publicJwk, JSON.parse(key.publicJwk));
});

test.serial('keys disable freezes the key at once; keys enable unfreezes it', async (t) => {
  const sign = () => t0.call('SignPersonalMessage', { keyName: 'cli/hot-1', message: Buffer.from('gm') });
  await sign();
  const disabled = await signer(['keys', 'disable', 'cli/hot-1']);
  t.is(disabled.code, 0, disabled.stderr);
  t.regex(disabled.stdout, /cli\/hot-1: disabled/);
  const refused = await rpcFailure(sign());
  t.is(refused.code, status.FAILED_PRECONDITION);
  t.is(refused.errorCode, 'KEY_DISABLED');
  t.like(JSON.parse((await signer(['keys', 'show', 'cli/hot-1', '--json'])).stdout), { state: 'disabled', useCount: 1 });

  const enabled = await signer(['keys', 'enable', 'cli/hot-1', '--json']);
  t.is(enabled.code, 0, enabled.stderr);
  t.like(JSON.parse(enabled.stdout), { name: 'cli/hot-1', state: 'enabled' });
  await t.notThrowsAsync(sign());
});

test.serial('keys create --jwt and jwks: the set verifies a token the service signed (jose), for one key or all', async (t) => {
  const created = await signer(['keys', 'create', 'cli/jwt-1', '--jwt', 'EdDSA', '--publish-ahead', '0s', '--json']);
  t.is(created.code, 0, created.stderr);
  t.like(JSON.parse(created.stdout), { name: 'cli/jwt-1', type: 'ed25519' });

  const one = await signer(['jwks', 'cli/jwt-1']);
  t.is(one.code, 0, one.stderr);
  const jwks = JSON.parse(one.stdout) as { keys: Array<Record<string, string>> };
  t.is(jwks.keys.length, 1);
  t.like(jwks.keys[0], { kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
  t.false('d' in jwks.keys[0]!);

  const { token } = await t0.call<SignJwtResponse__Output>('SignJwt', {
    keyName: 'cli/jwt-1',
    claimsJson: JSON.stringify({ iss: 'https://auth.example.com', aud: 'api.example.com', sub: 'user:1' }),
  });
  const verified = await jwtVerify(token, createLocalJWKSet(jwks as never), { issuer: 'https://auth.example.com', audience: 'api.example.com' });
  t.is(verified.payload.sub, 'user:1');

  // After a rotation the key has two versions in the set (retiring and active); another JWT key is not in it.
  await t0.call('CreateJwtKey', { name: 'cli/jwt-2', algorithm: 'JWT_ALGORITHM_ES256' });
  const rotated = await signer(['keys', 'rotate', 'cli/jwt-1', '--json']);
  t.is(rotated.code, 0, rotated.stderr);
  const { versions } = JSON.parse(rotated.stdout) as { versions: Array<{ kid: string; state: string }> };
  t.deepEqual(versions.map((v) => v.state), ['retiring', 'active']);
  const both = JSON.parse((await signer(['jwks', 'cli/jwt-1'])).stdout) as { keys: Array<{ kid: string }> };
  t.deepEqual(both.keys.map((k) => k.kid), versions.map((v) => v.kid));

  // Without a key: every JWT key's versions, as GetJwks (and the HTTP JWKS) serve them.
  const all = JSON.parse((await signer(['jwks'])).stdout) as { keys: Array<{ kid: string; alg: string }> };
  t.deepEqual(all, JSON.parse((await t0.call<GetJwksResponse__Output>('GetJwks', {})).jwksJson));
  t.deepEqual(all.keys.map((k) => k.alg).sort(), ['ES256', 'EdDSA', 'EdDSA']);
  const table = await signer(['jwks', 'cli/jwt-1', '--table']);
  t.regex(table.stdout, new RegExp(`^KID +ALG +KTY\\n${versions[0]!.kid} +EdDSA +OKP Ed25519\\n${versions[1]!.kid} +EdDSA +OKP Ed25519\\n$`));
  const rotateTable = await signer(['keys', 'rotate', 'cli/jwt-2']);
  // cli/jwt-2 has the default publish-ahead: its first version signed at once, the new one waits.
  t.regex(rotateTable.stdout, /^cli\/jwt-2 \(ES256\)\nVERSION +STATE +KID +SINCE\n1 +\w+ +\S+ +\d{4}-\d\d-\d\d \d\d:\d\d\n2 +published /);
  for (const row of rotateTable.stdout.split('\n')) t.true(row.length <= 80, row);
});

test.serial('jwks of a key that is not a JWT key: exit 1 and one line naming the status, code and field', async (t) => {
  const result = await signer(['jwks', 'cli/hot-1']);
  t.is(result.code, 1);
  t.is(result.stdout, '');
  t.regex(result.stderr, /^signer: key "cli\/hot-1" is not a JWT key \[FAILED_PRECONDITION WRONG_KEY_TYPE, field key_name, request [0-9a-f-]{36}\]\n$/);
  const missing = await signer(['jwks', 'cli/jwt-none']);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /^signer: key "cli\/jwt-none" does not exist \[NOT_FOUND KEY_NOT_FOUND, field key_name, /);
});

test.serial('bad arguments are refused before any call, naming the argument; nothing is created', async (t) => {
  const before = await keyNames();
  const cases: Array<[string[], RegExp]> = [
    [['keys', 'create', 'CLI/Upper', '--type', 'p256'], /argument 'name'.*path-like/],
    [['keys', 'create', 'cli/hot-9', '--type', 'p257'], /'--type <type>' argument 'p257' is invalid\. Allowed choices are secp256k1/],
    [['keys', 'create', 'cli/hot-9'], /--type is required/],
    [['keys', 'create', 'cli/hot-9', '--type', 'p256', '--label', 'Env=x'], /--label.*"labels\.Env" key must match/],
    [['keys', 'create', 'cli/hot-9', '--type', 'p256', '--label', 'env'], /--label.*expected key=value/],
    [['keys', 'create', 'cli/hot-9', '--type', 'p256', '--default-ttl', '5m'], /--default-ttl is for JWT keys/],
    [['keys', 'create', 'cli/jwt-9', '--jwt', 'ES256', '--type', 'rsa2048'], /--jwt ES256 needs --type p256/],
    [['keys', 'create', 'cli/jwt-9', '--jwt', 'ES256', '--publish-ahead', 'soon'], /--publish-ahead.*must be a duration/],
    [['keys', 'show'], /missing required argument 'name'/],
    [['keys', 'list', '--bogus'], /unknown option '--bogus'/],
  ];
  for (const [args, message] of cases) {
    const result = await signer(args);
    t.is(result.code, 1, args.join(' '));
    t.regex(result.stderr, message, args.join(' '));
  }
  t.deepEqual(await keyNames(), before);
});

test.serial('service errors are one line with the gRPC status and signer-error-code; an unreachable server says so', async (t) => {
  const missing = await signer(['keys', 'show', 'cli/nope']);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /^signer: key "cli\/nope" does not exist \[NOT_FOUND KEY_NOT_FOUND, field name, request [0-9a-f-]{36}\]\n$/);
  const taken = await signer(['keys', 'create', 'cli/hot-1', '--type', 'p256']);
  t.regex(taken.stderr, /^signer: key "cli\/hot-1" already exists \[ALREADY_EXISTS KEY_EXISTS, field name, request [0-9a-f-]{36}\]\n$/);
  const reserved = await signer(['keys', 'disable', 'system/audit']);
  t.regex(reserved.stderr, /\[NOT_FOUND KEY_NOT_FOUND, field name/);

  const unreachable = await runCli(['keys', 'list', '--server', '127.0.0.1:1', '--insecure']);
  t.is(unreachable.code, 1);
  t.regex(unreachable.stderr, /^signer: cannot reach the signer .*ECONNREFUSED.* \[UNAVAILABLE\]\n$/);
  const noCerts = await runCli(['keys', 'list', '--server', `127.0.0.1:${t0.signer.port}`, '--ca', '/nonexistent/ca.pem']);
  t.regex(noCerts.stderr, /^signer: --ca \/nonexistent\/ca\.pem: no such file \(give mTLS files, or --insecure/);
});

test('every command has --help with examples', async (t) => {
  const commands = [
    ['keys', 'create'], ['keys', 'list'], ['keys', 'show'], ['keys', 'disable'], ['keys', 'enable'], ['keys', 'rotate'],
    ['jwks'], ['token', 'init'], ['completion'],
    ['audit', 'verify'], ['audit', 'export'], ['audit', 'tail'],
    ['approvals', 'keygen'], ['approvals', 'pending'], ['approvals', 'show'], ['approvals', 'approve'], ['approvals', 'reject'], ['approvals', 'watch'],
    ['policy', 'validate'], ['policy', 'check'],
    [],
  ];
  await Promise.all(
    commands.map(async (command) => {
      const help = await runCli([...command, '--help']);
      t.is(help.code, 0, command.join(' '));
      t.regex(help.stdout, new RegExp(`Usage: signer ${command.join(' ')}`), command.join(' '));
      t.regex(help.stdout, /\nExamples:\n {2}\$ .*signer /, command.join(' '));
    }),
  );
});

test.serial('keys show on a JWT key: algorithm, schedule and every version with its times; GetKey and ListKeys return them', async (t) => {
  await t0.call('CreateJwtKey', { name: 'cli/jwt-show', algorithm: 'JWT_ALGORITHM_ES256', rotationPeriod: '30d', publishAhead: '10m' });
  await t0.call('RotateKey', { name: 'cli/jwt-show' });
  const key = await t0.call<Key__Output>('GetKey', { name: 'cli/jwt-show' });
  t.is(key.jwt!.algorithm, 'JWT_ALGORITHM_ES256');
  t.deepEqual(key.jwt!.schedule, { rotationPeriod: '2592000s', publishAhead: '600s', verificationGrace: '300s', clockSkew: '60s', defaultTtl: '900s' });
  // The first version signs at once; the rotation publishes ahead.
  t.deepEqual(key.jwt!.versions.map((v) => [v.version, v.state]), [[1, 'active'], [2, 'published']]);
  const listed = (await t0.call<ListKeysResponse__Output>('ListKeys', { pageSize: 1000 })).keys;
  t.deepEqual(listed.find((k) => k.name === 'cli/jwt-show')!.jwt, key.jwt);
  t.is(listed.find((k) => k.name === 'cli/hot-1')!.jwt, null);

  const shown = await signer(['keys', 'show', 'cli/jwt-show']);
  t.is(shown.code, 0, shown.stderr);
  t.regex(shown.stdout, /\n  JWT algorithm: +ES256\n  rotation: +every 2592000s\n  publish ahead: +600s\n  grace: +300s after the last token expires \(clock skew 60s\)\n  default TTL: +900s\n  versions:\n/);
  t.regex(shown.stdout, new RegExp(`\\n  1 +active +kid ${key.jwt!.versions[0]!.kid}\\n +published \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d, active \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d\\n`));
  t.regex(shown.stdout, new RegExp(`\\n  2 +published +kid ${key.jwt!.versions[1]!.kid}\\n`));
  for (const line of shown.stdout.split('\n').filter((l) => !l.startsWith('  public JWK'))) t.true(line.length <= 80, line);
  const json = JSON.parse((await signer(['keys', 'show', 'cli/jwt-show', '--json'])).stdout) as KeyView;
  t.like(json.jwt, { algorithm: 'ES256', schedule: { publishAhead: '600s' } });
  t.is(json.jwt!.versions.length, 2);
});
