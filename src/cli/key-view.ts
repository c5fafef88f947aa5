import type { Key__Output } from '../api/generated/signer/v1/Key.js';
import type { KeyType } from '../domain/key-types.js';
import { formatFields, formatTable, tableTime, tableWidth } from './table.js';
import { oneLine } from './terminal-text.js';

/** The key types as the CLI names them, and as the API does. */
export const CLI_KEY_TYPES: Readonly<Record<KeyType, string>> = {
  secp256k1: 'KEY_TYPE_SECP256K1',
  ed25519: 'KEY_TYPE_ED25519',
  p256: 'KEY_TYPE_P256',
  rsa2048: 'KEY_TYPE_RSA_2048',
  rsa3072: 'KEY_TYPE_RSA_3072',
};

/** A key as `--json` prints it: public material and metadata only (the service never sends more). */
export interface KeyView {
  name: string;
  type: string;
  state: 'enabled' | 'disabled';
  /** EIP-55 address; secp256k1 keys only. */
  ethereumAddress?: string;
  labels: Record<string, string>;
  createTime: string;
  /** Absent if the key never signed. */
  lastUsedTime?: string;
  useCount: number;
  publicKeyPem: string;
  publicJwk: Record<string, unknown>;
  /** JWT keys only. */
  jwt?: {
    algorithm: string;
    versions: VersionRow[];
    schedule: { rotationPeriod: string; publishAhead: string; verificationGrace: string; clockSkew: string; defaultTtl: string };
  };
}

export function keyView(key: Key__Output): KeyView {
  const type = (Object.keys(CLI_KEY_TYPES) as KeyType[]).find((t) => CLI_KEY_TYPES[t] === key.type) ?? key.type;
  return {
    name: key.name,
    type,
    state: key.enabled ? 'enabled' : 'disabled',
    ...(key.ethereumAddress ? { ethereumAddress: key.ethereumAddress } : {}),
    labels: key.labels,
    createTime: key.createTime,
    ...(key.lastUsedTime ? { lastUsedTime: key.lastUsedTime } : {}),
    useCount: Number(key.useCount),
    publicKeyPem: pem(key.publicKeyDer),
    publicJwk: JSON.parse(key.publicJwk || '{}') as Record<string, unknown>,
    ...(key.jwt
      ? {
          jwt: {
            algorithm: String(key.jwt.algorithm).replace('JWT_ALGORITHM_', '').replace('EDDSA', 'EdDSA'),
            versions: key.jwt.versions.map((v) => ({ version: v.version, state: v.state, kid: v.kid, publishTime: v.publishTime, activateTime: v.activateTime, retireStartTime: v.retireStartTime, retireTime: v.retireTime })),
            schedule: { ...key.jwt.schedule! },
          },
        }
      : {}),
  };
}

function pem(der: Uint8Array): string {
  const lines = Buffer.from(der).toString('base64').match(/.{1,64}/g) ?? [];
  return ['-----BEGIN PUBLIC KEY-----', ...lines, '-----END PUBLIC KEY-----'].join('\n');
}

function labelText(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/** `keys list`: one row per key; within 80 columns without --wide (the times are in `keys show`). */
export function formatKeyTable(keys: KeyView[], wide?: boolean): string {
  if (wide) {
    return formatTable(
      ['NAME', 'TYPE', 'STATE', 'ADDRESS', 'LABELS', 'CREATED', 'LAST USED', 'USES'],
      keys.map((k) => [k.name, k.type, k.state, k.ethereumAddress, labelText(k.labels), k.createTime, k.lastUsedTime ?? 'never', k.useCount]),
    );
  }
  return formatTable(
    ['NAME', 'TYPE', 'STATE', 'ADDRESS', 'LABELS', 'USES'],
    keys.map((k) => [k.name, k.type, k.state, k.ethereumAddress, labelText(k.labels), k.useCount]),
    tableWidth(false),
    [1, 2, 5],
  );
}

/** `keys show`: every field, then the public key as PEM and JWK. */
export function formatKeyDetails(key: KeyView): string {
  const fields: Array<[string, string | number | undefined]> = [
    ['type', key.type],
    ['state', key.state === 'enabled' ? 'enabled' : 'disabled (frozen: signs nothing until enabled)'],
  ];
  if (key.ethereumAddress) fields.push(['address', key.ethereumAddress]);
  fields.push(
    ['labels', labelText(key.labels)],
    ['created', key.createTime],
    ['last used', key.lastUsedTime ?? 'never'],
    ['signatures', key.useCount],
    ['public JWK', JSON.stringify(key.publicJwk)],
  );
  if (!key.jwt) return `${key.name}\n${formatFields(fields)}${key.publicKeyPem}\n`;
  const s = key.jwt.schedule;
  fields.push(
    ['JWT algorithm', key.jwt.algorithm],
    ['rotation', s.rotationPeriod === '0s' ? 'manual (signer keys rotate)' : `every ${s.rotationPeriod}`],
    ['publish ahead', s.publishAhead],
    ['grace', `${s.verificationGrace} after the last token expires (clock skew ${s.clockSkew})`],
    ['default TTL', s.defaultTtl],
  );
  // One version on two lines (its kid, then its times), to stay within 80 columns.
  const versions = key.jwt.versions.map((v) => {
    const times = [['published', v.publishTime], ['active', v.activateTime], ['retiring', v.retireStartTime], ['retired', v.retireTime]].filter(([, t]) => t).map(([what, t]) => `${what} ${tableTime(t)}`);
    return `  ${String(v.version).padEnd(3)} ${v.state.padEnd(9)} kid ${oneLine(v.kid)}\n      ${times.join(', ')}\n`;
  });
  return `${key.name}\n${formatFields(fields)}  versions:\n${versions.join('')}${key.publicKeyPem}\n`;
}

/** A JWT key version as the API returns it (JwtKeyVersion). */
interface VersionRow {
  version: number | string;
  state: string;
  kid: string;
  publishTime: string;
  activateTime: string;
  retireStartTime: string;
  retireTime?: string;
}

/**
 * The versions of a JWT key. Narrow: the time the version entered its current state ("since");
 * --wide: every time.
 */
export function formatVersionTable(versions: readonly VersionRow[], wide?: boolean): string {
  if (wide) {
    return formatTable(
      ['VERSION', 'STATE', 'KID', 'PUBLISHED', 'ACTIVE SINCE', 'RETIRING SINCE'],
      versions.map((v) => [v.version, v.state, v.kid, v.publishTime, v.activateTime, v.retireStartTime]),
    );
  }
  const since = (v: VersionRow) => (v.state === 'retiring' || v.state === 'retired' ? v.retireStartTime : v.state === 'active' ? v.activateTime : v.publishTime);
  return formatTable(['VERSION', 'STATE', 'KID', 'SINCE'], versions.map((v) => [v.version, v.state, v.kid, tableTime(since(v))]), tableWidth(false), [0, 1, 3]);
}
