import test from 'ava';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { SignJwtResponse__Output } from '../../src/api/generated/signer/v1/SignJwtResponse.js';
import { DEV_PIN } from '../../src/config.js';
import { SOFTHSM_MODULE } from '../../src/keystore/dev-token.js';
import { REPLICA_ACCESS, sleep } from '../helpers/replica-load.js';
import { useReplicas } from '../helpers/replicas.js';

const replicas = useReplicas(test);
const POLICY = `key: "jwt/*"
jwt:
  issuers: ["https://auth.example.com"]
  audiences: ["api.example.com"]
  subjects: ["service:*"]
  max_ttl: 1h
`;
const claims = () => JSON.stringify({ iss: 'https://auth.example.com', aud: 'api.example.com', sub: 'service:replicas' });

/** The private keys on the development token under `dataDir`, as pkcs11-tool lists them: label and CKA_ID (hex). */
function tokenPrivateKeys(dataDir: string): Array<{ label: string; id: string }> {
  const listing = execFileSync(
    'pkcs11-tool',
    ['--module', SOFTHSM_MODULE, '--token-label', 'signer-dev', '--login', '--pin', DEV_PIN, '--list-objects', '--type', 'privkey'],
    { env: { ...process.env, SOFTHSM2_CONF: join(dataDir, 'softhsm', 'softhsm2.conf') }, encoding: 'utf8' },
  );
  return listing
    .split(/(?=Private Key Object)/)
    .filter((o) => o.startsWith('Private Key Object'))
    .map((o) => ({ label: /label:\s+(.*)/.exec(o)?.[1]?.trim() ?? '', id: /ID:\s+([0-9a-f]+)/.exec(o)?.[1] ?? '' }));
}

if (replicas) {
  test('the JWT schedule and audit checkpoints every second on three replicas: contiguous versions, no orphaned HSM keys, a checkpoint chain that verifies', async (t) => {
    t.timeout(120_000);
    const set = await replicas.start(t, {
      policies: { 'access.yaml': REPLICA_ACCESS, 'jwt.yaml': POLICY },
      args: ['--jwt-schedule-seconds', '1', '--audit-checkpoint-seconds', '1'],
    });
    await set.at(0).call('CreateJwtKey', { name: 'jwt/rot', algorithm: 'JWT_ALGORITHM_ES256', rotationPeriod: '2s', publishAhead: '1s', verificationGrace: '1s', clockSkew: '0s', defaultTtl: '1s' });
    // Tokens from every replica while all three run the schedule (and every second try to checkpoint).
    const kids = new Set<string>();
    const until = Date.now() + 10_000;
    for (let i = 0; Date.now() < until; i++) {
      kids.add((await set.at(i).call<SignJwtResponse__Output>('SignJwt', { keyName: 'jwt/rot', claimsJson: claims() })).kid);
      await sleep(100);
    }
    await set.stopReplicas();

    const psql = (sql: string) => replicas.postgres().psql(set.databaseName, sql);
    const versions = (await psql(`SELECT version, hsm_id, kid FROM key_versions WHERE key_name = 'jwt/rot' ORDER BY version`))
      .split('\n')
      .map((line) => line.split('|'))
      .map(([version, hsmId, kid]) => ({ version: Number(version), hsmId: hsmId!, kid: kid! }));
    t.log(`${versions.length} versions; tokens signed by ${kids.size} of them`);
    t.true(versions.length >= 3, 'the key rotated several times in 10 s');
    t.deepEqual(versions.map((v) => v.version), versions.map((_, i) => i + 1), 'versions 1..n, no gap, no duplicate');
    for (const kid of kids) t.true(versions.some((v) => v.kid === kid), `kid ${kid} is a stored version`);

    // Every version's pair is on the token, and every pair made for this key is a version (none orphaned).
    const pairs = tokenPrivateKeys(set.dataDir).filter((k) => k.label.startsWith('jwt/rot'));
    t.deepEqual(pairs.map((k) => k.id).sort(), versions.map((v) => v.hsmId).sort());

    const checkpoints = Number(await psql('SELECT count(*) FROM audit_checkpoints'));
    t.log(`${checkpoints} audit checkpoints`);
    t.true(checkpoints >= 3);
    t.is(await psql('SELECT count(*) - count(DISTINCT prev_sig_hash) FROM audit_checkpoints'), '0', 'the checkpoint chain never forks');
    const verified = await set.verifyAudit();
    t.is(verified.code, 0, verified.stderr);
    t.regex(verified.stdout, /audit log intact/);
  });
}
