import test from 'ava';
import { parseConfig } from '../src/config.js';

test('--metrics-address: loopback by default, host:port, "off", the environment, and a clear error', (t) => {
  t.deepEqual(parseConfig([], {}).metrics, { host: '127.0.0.1', port: 9464 });
  t.deepEqual(parseConfig(['--metrics-address', '0.0.0.0:9100'], {}).metrics, { host: '0.0.0.0', port: 9100 });
  t.deepEqual(parseConfig(['--metrics-address', '[::1]:0'], {}).metrics, { host: '::1', port: 0 });
  t.is(parseConfig(['--metrics-address', 'off'], {}).metrics, undefined);
  // Commander reads flags' environment variables from process.env.
  try {
    process.env.SIGNER_METRICS_ADDRESS = '127.0.0.1:9999';
    t.deepEqual(parseConfig([], {}).metrics, { host: '127.0.0.1', port: 9999 });
    process.env.SIGNER_METRICS_ADDRESS = 'off';
    t.is(parseConfig([], {}).metrics, undefined);
    t.deepEqual(parseConfig(['--metrics-address', '127.0.0.1:1'], {}).metrics, { host: '127.0.0.1', port: 1 });
  } finally {
    delete process.env.SIGNER_METRICS_ADDRESS;
  }
  t.throws(() => parseConfig(['--metrics-address', '9464'], {}), { message: /--metrics-address must be host:port or "off"/ });
  t.throws(() => parseConfig(['--metrics-address', 'localhost:70000'], {}), { message: /--metrics-address must be host:port/ });
  // The JWKS flag keeps its own name in its message.
  t.throws(() => parseConfig(['--jwks-address', 'nope'], {}), { message: /^--jwks-address must be/ });
});

test('an empty environment variable is refused, naming it, rather than taken as an empty value', (t) => {
  try {
    process.env.SIGNER_TOKEN_LABEL = '';
    t.throws(() => parseConfig([], {}), { message: 'SIGNER_TOKEN_LABEL is set but empty: give it a value or unset it (it sets --token-label)' });
    // Even when the flag is given: the deployment file that set it is wrong either way.
    t.throws(() => parseConfig(['--token-label', 'x'], {}), { message: /^SIGNER_TOKEN_LABEL is set but empty/ });
  } finally {
    delete process.env.SIGNER_TOKEN_LABEL;
  }
  t.is(parseConfig([], {}).tokenLabel, 'signer-dev');
  t.throws(() => parseConfig(['--pkcs11-module', '/x.so'], { SIGNER_HSM_PIN: '' }), { message: 'SIGNER_HSM_PIN is set but empty: give it a value or unset it' });
  t.throws(() => parseConfig([], { SIGNER_HSM_PIN_FILE: '' }), { message: 'SIGNER_HSM_PIN_FILE is set but empty: give it a value or unset it' });
});
