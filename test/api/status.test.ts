import test from 'ava';
import { status } from '@grpc/grpc-js';
import { invalidField } from '../../src/domain/errors.js';
import { ERROR_FIELD_KEY, metadataValue, toServiceError } from '../../src/api/grpc/status.js';

test('field metadata: printable ASCII as is, anything else percent-encoded as UTF-8', (t) => {
  t.is(metadataValue('typed_data.message.owner'), 'typed_data.message.owner');
  t.is(metadataValue('a b%c\né'), 'a%20b%25c%0A%C3%A9');
  t.is(metadataValue('\ud800'), '%EF%BF%BD');
  for (const text of ['x.y[0]', ' lead', 'trail ', 'ü/ß', '100%', '\u{1F600}']) t.is(decodeURIComponent(metadataValue(text)), text);
});

test('toServiceError never builds what grpc-js refuses to send (regression: both crashed the process)', (t) => {
  const error = toServiceError(invalidField('typed_data.é\ud800', 'is not an EIP-712 field'), 'id-1');
  t.is(error.code, status.INVALID_ARGUMENT);
  t.is(error.metadata?.get(ERROR_FIELD_KEY)[0], 'typed_data.%C3%A9%EF%BF%BD');
  t.notThrows(() => encodeURI(error.details!));
});
