import { createWriteStream, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import type { PublicJwk } from '../domain/key.js';
import { verifyAuditLog } from '../audit/verify.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';

const databaseOption = () => new Option('--database <file>', 'the signer database').env('SIGNER_DATABASE').default('data/signer.db');

function openReadOnly(database: string): SqliteStore {
  return new SqliteStore(resolve(database), { readonly: true });
}

/** `signer audit verify`: the whole chain and every signed checkpoint; names the first bad record. */
export function auditVerifyCommand(): Command {
  return new Command('verify')
    .description('check every audit record and signed checkpoint; exit 1 naming the first bad record')
    .addOption(databaseOption())
    .option('--public-key <file>', 'the pinned checkpoint key (default: audit-key.jwk beside the database)')
    .option('--json', 'print the report as JSON')
    .action((options: { database: string; publicKey?: string; json?: boolean }) => {
      const publicKey = JSON.parse(readFileSync(options.publicKey ?? join(dirname(resolve(options.database)), 'audit-key.jwk'), 'utf8')) as PublicJwk;
      const store = openReadOnly(options.database);
      try {
        const report = verifyAuditLog((after, limit) => store.auditRecords(after, limit), store.auditCheckpoints(), publicKey);
        if (options.json) console.log(JSON.stringify(report));
        else if (report.ok) {
          console.log(`audit log intact: ${report.records} records, ${report.checkpoints} signed checkpoints, ${report.unsealed} records after the last checkpoint`);
        } else console.error(`audit log FAILED verification: ${report.problem!.message}`);
        if (!report.ok) process.exitCode = 1;
      } finally {
        store.close();
      }
    });
}

/** `signer audit export`: JSON lines, one record per line. */
export function auditExportCommand(): Command {
  return new Command('export')
    .description('write audit records as JSON lines')
    .addOption(databaseOption())
    .option('--from <seq>', 'start after this record', '0')
    .option('--out <file>', 'write here instead of standard output')
    .action(async (options: { database: string; from: string; out?: string }) => {
      const store = openReadOnly(options.database);
      const out: NodeJS.WritableStream = options.out ? createWriteStream(options.out) : process.stdout;
      try {
        let after = Number(options.from);
        for (let page = store.auditRecords(after, 10_000); page.length; page = store.auditRecords(after, 10_000)) {
          for (const record of page) {
            if (!out.write(JSON.stringify(record) + '\n')) await new Promise<void>((r) => out.once('drain', () => r()));
            after = record.seq;
          }
        }
      } finally {
        store.close();
        if (out !== process.stdout) await new Promise<void>((r) => out.end(() => r()));
      }
    });
}

/** `signer audit tail`: prints new records as they are written. */
export function auditTailCommand(): Command {
  return new Command('tail')
    .description('follow new audit records as JSON lines (Ctrl-C to stop)')
    .addOption(databaseOption())
    .option('--from <seq>', 'start after this record (default: the current end)')
    .option('--interval-ms <ms>', 'how often to look for new records', '500')
    .action(async (options: { database: string; from?: string; intervalMs: string }) => {
      const store = openReadOnly(options.database);
      let after = options.from !== undefined ? Number(options.from) : lastSeq(store);
      const stop = () => {
        store.close();
        process.exit(0);
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      for (;;) {
        for (const record of store.auditRecords(after, 1000)) {
          console.log(JSON.stringify(record));
          after = record.seq;
        }
        await new Promise((r) => setTimeout(r, Number(options.intervalMs)));
      }
    });
}

function lastSeq(store: SqliteStore): number {
  let after = 0;
  for (let page = store.auditRecords(after, 10_000); page.length; page = store.auditRecords(after, 10_000)) after = page.at(-1)!.seq;
  return after;
}
