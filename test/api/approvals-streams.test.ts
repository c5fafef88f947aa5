import { spawn } from 'node:child_process';
import { connect } from 'node:http2';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { parseEther } from 'ethers';
import type { SignRequest__Output } from '../../src/api/generated/signer/v1/SignRequest.js';
import { callUnary } from '../helpers/signer.js';
import { ApprovalsRig, approverKey, parkingPolicy } from '../helpers/approvals.js';

// Streams are bounded and event-driven (issue 13, item 14).
const rig = new ApprovalsRig([approverKey('alice', ['treasury']), approverKey('bob', ['treasury'])], {
  'watch.yaml': parkingPolicy('watch/*', '  - { name: big, native_value_above: "5 ether", quorum: [{ group: treasury, count: 2 }] }'),
});
const SIX = parseEther('6');
const HOLD_WRITE_LOCK = join(import.meta.dirname, '..', 'helpers', 'hold-write-lock.js');

test.before(async () => {
  await rig.start(['--stream-max-seconds', '2']);
  await callUnary(rig.admin, 'CreateKey', { name: 'watch/a', type: 'KEY_TYPE_SECP256K1' });
});

test.after.always(async () => {
  await rig.stop().catch(() => undefined);
  rig.remove();
});

interface Ended {
  messages: SignRequest__Output[];
  code: grpc.status;
  seconds: number;
}

/** Runs a server stream with a generous client deadline and reports how (and when) the server ended it. */
function follow(method: 'WaitForSignature' | 'WatchPending', request: object, onData?: (m: SignRequest__Output) => void): Promise<Ended> {
  const started = performance.now();
  // WaitForSignature is the requester's (signer role), WatchPending the approvers'.
  const client = method === 'WaitForSignature' ? rig.relayer : rig.approver;
  const stream = (client as unknown as Record<string, (r: object, o: object) => grpc.ClientReadableStream<SignRequest__Output>>)[method]!.call(client, request, {
    deadline: Date.now() + 60_000,
  });
  const messages: SignRequest__Output[] = [];
  return new Promise((resolve) => {
    const done = (code: grpc.status) => resolve({ messages, code, seconds: (performance.now() - started) / 1000 });
    stream.on('data', (m: SignRequest__Output) => {
      messages.push(m);
      onData?.(m);
    });
    stream.on('error', (error: grpc.ServiceError) => done(error.code));
    stream.on('end', () => done(grpc.status.OK));
  });
}

function healthClient(): grpc.Client & Record<string, Function> {
  const Client = grpc.makeGenericClientConstructor(healthService, 'Health');
  // No client certificate: the health service needs none.
  return new Client(`localhost:${rig.service.port}`, grpc.credentials.createSsl(readFileSync(join(rig.dir, 'pki', 'ca.pem')))) as grpc.Client & Record<string, Function>;
}

test.serial('the server advertises a cap on concurrent streams per connection', async (t) => {
  const pki = join(rig.dir, 'pki');
  const session = connect(`https://localhost:${rig.service.port}`, {
    ca: readFileSync(join(pki, 'ca.pem')),
    cert: readFileSync(join(pki, 'relayer.pem')),
    key: readFileSync(join(pki, 'relayer-key.pem')),
    ALPNProtocols: ['h2'],
  });
  try {
    const settings = await new Promise<{ maxConcurrentStreams?: number }>((resolve, reject) => {
      session.once('remoteSettings', resolve);
      session.once('error', reject);
    });
    t.is(settings.maxConcurrentStreams, 100);
  } finally {
    session.close();
  }
});

test.serial('WaitForSignature is ended by the server after its lifetime bound with DEADLINE_EXCEEDED', async (t) => {
  const id = await rig.park('watch/a', 1, SIX);
  const ended = await follow('WaitForSignature', { id });
  t.is(ended.code, grpc.status.DEADLINE_EXCEEDED);
  t.true(ended.seconds >= 1.9 && ended.seconds < 10, `ended after ${ended.seconds}s`);
  t.is(ended.messages.length, 1);
  t.is(ended.messages[0]!.status, 'pending');
});

test.serial('WatchPending gets a newly parked request at once and is ended after its lifetime bound', async (t) => {
  const seenAt = new Map<string, number>();
  const ended = follow('WatchPending', {}, (m) => seenAt.set(m.id, performance.now()));
  await new Promise((resolve) => setTimeout(resolve, 300));
  const parkedAt = performance.now();
  const id = await rig.park('watch/a', 2, SIX);
  const { code, seconds } = await ended;
  t.is(code, grpc.status.DEADLINE_EXCEEDED);
  t.true(seconds < 10, `ended after ${seconds}s`);
  // The stream is woken by the commit that parks, not by a poll.
  const seenAfterMs = (seenAt.get(id) ?? Infinity) - parkedAt;
  t.true(seenAfterMs < 2000, `seen ${seenAfterMs} ms after parking`);
});

test.serial('a waiting stream opens no write transaction: the service stays responsive while another process holds the write lock', async (t) => {
  const id = await rig.park('watch/a', 3, SIX);
  let first: () => void;
  const started = new Promise<void>((resolve) => (first = resolve));
  const waiting = follow('WaitForSignature', { id }, () => first());
  await started;
  // From here until the stream's lifetime ends (2 s), it only waits: the lock is held for about 1 s of that.
  const holder = spawn(process.execPath, [HOLD_WRITE_LOCK, join(rig.dir, 'signer.db')], { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => holder.stdout!.once('data', () => resolve()));
  const health = healthClient();
  try {
    let slowest = 0;
    for (let i = 0; i < 6; i++) {
      const started = performance.now();
      await new Promise((resolve, reject) => health.check!({ service: '' }, { deadline: Date.now() + 10_000 }, (e: Error | null, r: unknown) => (e ? reject(e) : resolve(r))));
      slowest = Math.max(slowest, performance.now() - started);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // Blocked behind the lock, a write would hold the event loop for the 5 s busy timeout.
    t.true(slowest < 2000, `a health check took ${slowest} ms while the stream waited`);
  } finally {
    holder.stdin!.end();
    health.close();
  }
  t.is((await waiting).code, grpc.status.DEADLINE_EXCEEDED);
});

test.serial('the unauthenticated health Watch is capped in number and in lifetime', async (t) => {
  const health = healthClient();
  const watches: grpc.ClientReadableStream<unknown>[] = [];
  try {
    const outcome = (stream: grpc.ClientReadableStream<unknown>) =>
      new Promise<{ code: grpc.status; seconds: number }>((resolve) => {
        const started = performance.now();
        stream.on('data', () => undefined);
        stream.on('error', (e: grpc.ServiceError) => resolve({ code: e.code, seconds: (performance.now() - started) / 1000 }));
        stream.on('end', () => resolve({ code: grpc.status.OK, seconds: (performance.now() - started) / 1000 }));
      });
    const first = health.watch!({ service: '' }) as grpc.ClientReadableStream<unknown>;
    const firstEnded = outcome(first);
    for (let i = 1; i < 64; i++) {
      const watch = health.watch!({ service: '' }) as grpc.ClientReadableStream<unknown>;
      watch.on('error', () => undefined).on('data', () => undefined);
      watches.push(watch);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    const extra = await outcome(health.watch!({ service: '' }) as grpc.ClientReadableStream<unknown>);
    t.is(extra.code, grpc.status.RESOURCE_EXHAUSTED);
    const ended = await firstEnded;
    t.is(ended.code, grpc.status.OK);
    t.true(ended.seconds < 10, `the watch lasted ${ended.seconds}s`);
  } finally {
    for (const w of watches) w.cancel();
    health.close();
  }
});
