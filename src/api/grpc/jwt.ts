import { invalidField } from '../../domain/errors.js';
import type { JwtKeySettings } from '../../domain/jwt.js';
import { parseDuration } from '../../domain/amount.js';
import {
  DEFAULT_CLOCK_SKEW_MS,
  DEFAULT_PUBLISH_AHEAD_MS,
  DEFAULT_TOKEN_TTL_MS,
  DEFAULT_VERIFICATION_GRACE_MS,
} from '../../service/jwt-keys.js';
import { visibleKey } from '../../service/visibility.js';
import type { SignerHandlers } from '../proto.js';
import { byKeyName, byName, handleUnary, type Services } from './call.js';
import { signOperations } from './sign-operations.js';
import { JWT_ALGORITHMS_TO_PROTO, KEY_TYPES_TO_PROTO, fromProto, toProtoJwtKey } from './convert.js';

type JwtHandlers = Pick<SignerHandlers, 'CreateJwtKey' | 'RotateKey' | 'SignJwt' | 'GetJwks'>;

export function jwtHandlers(services: Services): JwtHandlers {
  const { keys, jwt } = services;
  const unary = handleUnary(services);
  return {
    CreateJwtKey: unary('CreateJwtKey', byName, async (_ctx, request) => {
      if (request.algorithm === 'JWT_ALGORITHM_UNSPECIFIED') throw invalidField('algorithm', 'is required');
      const algorithm = fromProto(JWT_ALGORITHMS_TO_PROTO, request.algorithm, 'algorithm');
      const keyType = request.keyType === 'KEY_TYPE_UNSPECIFIED' ? undefined : fromProto(KEY_TYPES_TO_PROTO, request.keyType, 'key_type');
      const settings: JwtKeySettings = {
        algorithm,
        rotationPeriodMs: durationField(request.rotationPeriod, 'rotation_period', 0),
        publishAheadMs: durationField(request.publishAhead, 'publish_ahead', DEFAULT_PUBLISH_AHEAD_MS),
        graceMs: durationField(request.verificationGrace, 'verification_grace', DEFAULT_VERIFICATION_GRACE_MS),
        clockSkewMs: durationField(request.clockSkew, 'clock_skew', DEFAULT_CLOCK_SKEW_MS),
        defaultTtlMs: durationField(request.defaultTtl, 'default_ttl', DEFAULT_TOKEN_TTL_MS),
      };
      if (settings.defaultTtlMs < 1000) throw invalidField('default_ttl', 'must be at least 1s');
      const key = await jwt.create(request.name, settings, request.labels, keyType);
      return toProtoJwtKey(key, settings, await jwt.versions(key.name));
    }),

    RotateKey: unary('RotateKey', byName, async (_ctx, request) => {
      const key = await visibleKey(keys, request.name);
      const settings = await jwt.settingsOf(key.name);
      const versions = await jwt.rotate(key.name);
      return toProtoJwtKey(await keys.get(key.name), settings, versions);
    }),

    SignJwt: unary('SignJwt', byKeyName, signOperations(services).SignJwt),

    GetJwks: unary('GetJwks', (request) => request.keyName || undefined, async (_ctx, request) => {
      const keyName = request.keyName ? (await visibleKey(keys, request.keyName, 'key_name')).name : undefined;
      return { jwksJson: JSON.stringify({ keys: (await jwt.jwks(keyName)).keys }) };
    }),
  };
}

function durationField(text: string, field: string, fallback: number): number {
  if (text === '') return fallback;
  if (text === '0s') return 0;
  try {
    return parseDuration(text);
  } catch (error) {
    throw invalidField(field, (error as Error).message);
  }
}
