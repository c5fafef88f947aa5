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

test('--json-rpc-address: 127.0.0.1:8550 by default, "off", the environment; plaintext identity and downstream URL', (t) => {
  t.deepEqual(parseConfig([], {}).jsonRpc, { host: '127.0.0.1', port: 8550 });
  t.is(parseConfig(['--json-rpc-address', 'off'], {}).jsonRpc, undefined);
  process.env.SIGNER_JSON_RPC_ADDRESS = '[::1]:0';
  try {
    t.deepEqual(parseConfig([], {}).jsonRpc, { host: '::1', port: 0 });
  } finally {
    delete process.env.SIGNER_JSON_RPC_ADDRESS;
  }
  const config = parseConfig(['--json-rpc-plaintext-identity', 'sidecar', '--downstream-rpc-url', 'http://127.0.0.1:8545'], {});
  t.is(config.jsonRpcPlaintextIdentity, 'sidecar');
  t.is(config.downstreamRpcUrl, 'http://127.0.0.1:8545/');
  t.throws(() => parseConfig(['--downstream-rpc-url', 'ws://node:8546'], {}), { message: /--downstream-rpc-url must be an http:\/\/ or https:\/\/ URL/ });
  t.throws(() => parseConfig(['--json-rpc-address', '8550'], {}), { message: /--json-rpc-address must be host:port or "off"/ });
});

test('--database: a path is resolved, a postgres:// URL is kept as given, and a password in the URL is refused without being repeated', (t) => {
  t.regex(parseConfig(['--database', 'x/signer.db'], {}).database, /^\/.*\/x\/signer\.db$/);
  const url = 'postgres://signer@db.internal:5432/signer';
  t.is(parseConfig(['--database', url], {}).database, url);
  const error = t.throws(() => parseConfig(['--database', 'postgres://signer:hunter2@db.internal/signer'], {}));
  t.regex(error!.message, /PGPASSWORD/);
  t.false(error!.message.includes('hunter2'));
});
