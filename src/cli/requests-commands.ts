import { randomUUID } from 'node:crypto';
import { Command, Option } from 'commander';
import { parseDuration } from '../domain/amount.js';
import type { SignRequestRecord, Store } from '../store/store.js';
import { openStore } from '../store/open-store.js';
import { databaseOption } from './database-option.js';
import { printJsonLine } from './json-output.js';

// Younger requests may still be in flight in a running service; only a crash leaves one this old.
const olderThanOption = () => new Option('--older-than <duration>', 'only requests at least this old (e.g. 30s, 5m)').default('1m');

function unfinished(store: Store, olderThan: string): Promise<SignRequestRecord[]> {
  let ageMs: number;
  try {
    ageMs = parseDuration(olderThan);
  } catch (error) {
    throw new Error(`--older-than ${(error as Error).message}`);
  }
  return store.unfinishedSignRequests(Date.now() - ageMs, 100_000);
}

const describe = (r: SignRequestRecord) =>
  `${new Date(r.createdAt).toISOString()}  ${r.keyName}  ${r.method}  caller=${r.caller}  request=${r.requestId}  digest=${r.digest}`;

/**
 * `signer requests unfinished`: sign requests whose reservation committed but which never finished,
 * because the process died between reserving and recording. Their signatures never left the service
 * (a signature is released only after its audit record commits), and their spend still counts.
 */
export function requestsUnfinishedCommand(): Command {
  return new Command('unfinished')
    .description('list sign requests a crash left reserved (their spend still counts; nothing was released)')
    .addOption(databaseOption())
    .addOption(olderThanOption())
    .option('--json', 'print JSON lines')
    .action(async (options: { database: string; olderThan: string; json?: boolean }) => {
      const store = await openStore(options.database, { readonly: true });
      try {
        const requests = await unfinished(store, options.olderThan);
        if (options.json) for (const r of requests) printJsonLine(r);
        else if (requests.length === 0) console.log('no unfinished sign requests');
        else {
          for (const r of requests) console.log(describe(r));
          console.log(`${requests.length} unfinished; settle them with: signer requests settle --all`);
        }
      } finally {
        await store.close();
      }
    });
}

/**
 * `signer requests settle`: marks unfinished requests failed, each with an audit record, so that a
 * client retrying with the same request id signs again instead of hearing REQUEST_IN_PROGRESS forever.
 * Their reservations keep counting in the spend windows until they age out (fail closed).
 */
export function requestsSettleCommand(): Command {
  return new Command('settle')
    .description('mark unfinished sign requests failed (audited); their reservations keep counting')
    .argument('[request-id...]', 'request ids to settle (as listed by `requests unfinished`)')
    .option('--all', 'settle every unfinished request')
    .addOption(databaseOption())
    .addOption(olderThanOption())
    .action(async (ids: string[], options: { database: string; olderThan: string; all?: boolean }) => {
      if (!options.all && ids.length === 0) throw new Error('name the request ids to settle, or pass --all');
      if (options.all && ids.length > 0) throw new Error('pass either request ids or --all, not both');
      const store = await openStore(options.database);
      try {
        const chosen = (await unfinished(store, options.olderThan)).filter((r) => options.all || ids.includes(r.requestId));
        const missing = ids.filter((id) => !chosen.some((r) => r.requestId === id));
        if (missing.length) throw new Error(`not unfinished (or younger than ${options.olderThan}): ${missing.join(', ')}`);
        // Settled only while still 'reserved' (checked in the transaction): a request that has finished
        // meanwhile keeps its outcome.
        const settled = await store.transaction(async (tx) => {
          const done: SignRequestRecord[] = [];
          for (const r of chosen) {
            if (!(await tx.finishSignRequest(r.caller, r.requestId, 'failed'))) continue;
            tx.appendAudit({
              timeMs: Date.now(),
              requestId: randomUUID(),
              caller: r.caller,
              method: 'SettleUnfinished',
              keyName: r.keyName,
              intent: JSON.stringify({ requestId: r.requestId, method: r.method, digest: r.digest, reservedAt: r.createdAt }),
              decision: 'error',
              reason: 'SETTLED_UNFINISHED',
              policyHash: r.policyHash,
              approvals: '[]',
              signatureHash: '',
              latencyMs: 0,
            });
            done.push(r);
          }
          return done;
        });
        console.log(`settled ${settled.length} unfinished sign request${settled.length === 1 ? '' : 's'}`);
      } finally {
        await store.close();
      }
    });
}
