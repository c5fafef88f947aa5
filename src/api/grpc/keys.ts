import { invalidField } from '../../domain/errors.js';
import type { KeyRecord } from '../../domain/key.js';
import { listableKey, visibleKey } from '../../service/visibility.js';
import { setKeyEnabled } from '../../service/key-enablement.js';
import type { Key, SignerHandlers } from '../proto.js';
import { byName, handleUnary, type Services } from './call.js';
import { KEY_TYPES_TO_PROTO, fromProto, toProtoJwtKey, toProtoKey } from './convert.js';

type KeyHandlers = Pick<SignerHandlers, 'CreateKey' | 'GetKey' | 'ListKeys' | 'DisableKey' | 'EnableKey'>;

export function keyHandlers(services: Services): KeyHandlers {
  const { keys, policy, audit } = services;
  const unary = handleUnary(services);
  return {
    CreateKey: unary('CreateKey', byName, async (_ctx, request) => {
      if (request.type === 'KEY_TYPE_UNSPECIFIED') throw invalidField('type', 'is required');
      const type = fromProto(KEY_TYPES_TO_PROTO, request.type, 'type');
      return toProtoKey(await keys.create({ name: request.name, type, labels: request.labels }));
    }),

    GetKey: unary('GetKey', byName, async (_ctx, request) => withJwtInfo(services, await visibleKey(keys, request.name))),

    ListKeys: unary('ListKeys', () => undefined, async (ctx, request) => {
      const page = await keys.list(request.pageSize, request.pageToken, (name) => listableKey(policy.access, ctx.caller, name));
      return { keys: await Promise.all(page.keys.map((key) => withJwtInfo(services, key))), nextPageToken: page.nextPageToken };
    }),

    DisableKey: unary('DisableKey', byName, async (ctx, request) => toProtoKey(await setKeyEnabled(keys, audit, ctx, request.name, false))),

    EnableKey: unary('EnableKey', byName, async (ctx, request) => toProtoKey(await setKeyEnabled(keys, audit, ctx, request.name, true))),
  };
}

/** A key for GetKey and ListKeys: for a JWT key, with its algorithm, versions and schedule. */
async function withJwtInfo(services: Services, key: KeyRecord): Promise<Key> {
  const info = await services.jwt.infoOf(key.name);
  if (!info) return toProtoKey(key);
  const { settings } = info;
  const { algorithm, versions } = toProtoJwtKey(key, settings, info.versions);
  const seconds = (ms: number) => `${Math.floor(ms / 1000)}s`;
  const schedule = {
    rotationPeriod: seconds(settings.rotationPeriodMs),
    publishAhead: seconds(settings.publishAheadMs),
    verificationGrace: seconds(settings.graceMs),
    clockSkew: seconds(settings.clockSkewMs),
    defaultTtl: seconds(settings.defaultTtlMs),
  };
  return { ...toProtoKey(key), jwt: { algorithm, versions, schedule } };
}
