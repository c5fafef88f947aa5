import { request as httpRequest } from 'node:http';
import test from 'ava';
import { verifyMessage } from 'ethers';
import type { Key__Output } from '../../../src/api/generated/signer/v1/Key.js';
import { startTestSigner, type TestSigner } from '../../helpers/signer.js';

// What a web page can make a browser send to the loopback listener must never sign: a simple POST
// (text/plain, with an Origin) and a DNS-rebound one (a foreign Host).
let s: TestSigner;
let address: string;
test.before(async () => {
  s = await startTestSigner({ jsonRpc: { host: '127.0.0.1', port: 0 } });
  address = (await s.call<Key__Output>('CreateKey', { name: 'web/hot', type: 'KEY_TYPE_SECP256K1' })).ethereumAddress;
});
test.after.always(() => s.stop());

function post(headers: Record<string, string>): Promise<{ status: number; body: { result?: string; error?: { code: number; message: string } } }> {
  const url = new URL(s.signer.jsonRpc!.url);
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'personal_sign', params: ['0x68656c6c6f', address] });
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, path: '/', method: 'POST', headers: { 'content-length': Buffer.byteLength(body), ...headers } }, (res) => {
      let text = '';
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test.serial('a browser-style request is refused before anything is signed: Origin, a non-JSON content type, a foreign Host', async (t) => {
  const host = new URL(s.signer.jsonRpc!.url).host;
  const cases: Array<{ headers: Record<string, string>; why: RegExp }> = [
    { headers: { 'content-type': 'text/plain;charset=UTF-8', origin: 'http://evil.example', host }, why: /Origin header/ },
    { headers: { 'content-type': 'application/json', origin: 'null', host }, why: /Origin header/ },
    { headers: { 'content-type': 'text/plain', host }, why: /Content-Type must be application\/json \(got "text\/plain"\)/ },
    { headers: { 'content-type': 'application/json', host: `evil.example:${new URL(s.signer.jsonRpc!.url).port}` }, why: /loopback Host/ },
  ];
  for (const { headers, why } of cases) {
    const reply = await post(headers);
    t.is(reply.status, 403, JSON.stringify(headers));
    t.regex(reply.body.error!.message, why);
    t.is(reply.body.result, undefined);
  }
});

test.serial('a tool-style request (application/json, loopback Host, no Origin) signs', async (t) => {
  for (const host of [new URL(s.signer.jsonRpc!.url).host, `localhost:${new URL(s.signer.jsonRpc!.url).port}`]) {
    const reply = await post({ 'content-type': 'application/json; charset=utf-8', host });
    t.is(reply.status, 200);
    t.is(verifyMessage('hello', reply.body.result!), address);
  }
});
