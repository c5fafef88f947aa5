import { createWriteStream, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { AuditRecord } from '../domain/audit.js';
import type { PublicJwk } from '../domain/key.js';
import { verifyAuditLog, type VerifyProgress } from '../audit/verify.js';
import { firstCheckpointPinPath, readFirstCheckpointPin } from '../audit/first-checkpoint-pin.js';
import { isPostgresUrl, openStore } from '../store/open-store.js';
import type { Store } from '../store/store.js';
import { databaseOption } from './database-option.js';
import { withExamples } from './help.js';
import { printJson, printJsonLine, toJson } from './json-output.js';
import { startProgress, type Progress } from './progress.js';
import { formatRow } from './table.js';
import { oneLine } from './terminal-text.js';

const seqOption = (flag: string, description: string) =>
  new Option(`${flag} <seq>`, description).argParser((text: string) => {
    if (!/^(0|[1-9][0-9]*)$/.test(text)) throw new InvalidArgumentError('must be a record number (0 or more)');
    return Number(text);
  });

/** Records read per query: enough to keep SQLite busy, few enough to keep memory small. */
const PAGE = 10_000;

function openReadOnly(database: string): Promise<Store> {
  return openStore(database, { readonly: true });
}

/** The pinned key's default place: beside a SQLite file; with PostgreSQL, in the data directory. */
function defaultKeyPath(database: string, dataDir: string): string {
  return isPostgresUrl(database) ? join(resolve(dataDir), 'audit-key.jwk') : join(dirname(resolve(database)), 'audit-key.jwk');
}

/** `signer audit verify`: the whole chain and every signed checkpoint; names the first bad record. */
export function auditVerifyCommand(): Command {
  const command = new Command('verify')
    .description('check every audit record and signed checkpoint; exit 1 naming the first bad record')
    .addOption(databaseOption())
    .option('--public-key <file>', 'the pinned checkpoint key (default: audit-key.jwk beside a SQLite database, or in --data-dir with PostgreSQL)')
    .option('--first-checkpoint <file>', 'the pinned first checkpoint (default: audit-first-checkpoint.json beside the public key)')
    .option('--json', 'print the report as JSON');
  withExamples(command, ['signer audit verify', 'signer audit verify --database /backup/signer.db --public-key /etc/signer/audit-key.jwk --json']);
  return command.action(async (options: { database: string; dataDir: string; publicKey?: string; firstCheckpoint?: string; json?: boolean }) => {
    // The database first: without it the missing key file would be a misleading complaint.
    const store = await openReadOnly(options.database);
    try {
      const keyPath = options.publicKey ?? defaultKeyPath(options.database, options.dataDir);
      const publicKey = JSON.parse(readFileSync(keyPath, 'utf8')) as PublicJwk;
      const pinPath = options.firstCheckpoint ?? firstCheckpointPinPath(keyPath);
      const pin = readFirstCheckpointPin(pinPath);
      // Named explicitly, the pin must exist: a missing file would silently skip the check.
      if (!pin && options.firstCheckpoint) throw new Error(`--first-checkpoint ${pinPath} does not exist`);
      const checkpoints = await store.auditCheckpoints();
      const progress = verifyProgress(await store.lastAuditSeq(), checkpoints.length);
      const report = await verifyAuditLog((after, limit) => store.auditRecords(after, limit), checkpoints, publicKey, progress.update, pin);
      progress.finish();
      if (options.json) printJson(report);
      else if (report.ok) {
        console.log(`audit log intact: ${report.records} records, ${report.checkpoints} signed checkpoints, ${report.unsealed} records after the last checkpoint`);
        if (!pin) console.log(`no pinned first checkpoint at ${pinPath}: a log emptied of every record and checkpoint would also pass`);
      } else console.error(`audit log FAILED verification: ${oneLine(report.problem!.message)}`);
      if (!report.ok) process.exitCode = 1;
    } finally {
      await store.close();
    }
  });
}

/** One bar per phase: records, then checkpoints (each an Ed25519 verification). */
function verifyProgress(records: number, checkpoints: number): { update: (p: VerifyProgress) => void; finish: () => void } {
  let phase: VerifyProgress['phase'] | undefined;
  let bar: Progress | undefined;
  return {
    update(p) {
      if (p.phase !== phase) {
        bar?.finish();
        phase = p.phase;
        bar = startProgress(p.phase === 'records' ? 'records    ' : 'checkpoints', p.phase === 'records' ? records : checkpoints);
      }
      bar!.update(p.done);
    },
    finish: () => bar?.finish(),
  };
}

/** `signer audit export`: JSON lines, one record per line. */
export function auditExportCommand(): Command {
  const command = new Command('export')
    .description('write audit records as JSON lines')
    .addOption(databaseOption())
    .addOption(seqOption('--from', 'start after this record').default(0))
    .option('--out <file>', 'write here instead of standard output');
  withExamples(command, ['signer audit export --out audit.jsonl', 'signer audit export --from 120000 | jq \'select(.decision == "deny")\'']);
  return command.action(async (options: { database: string; from: number; out?: string }) => {
    const store = await openReadOnly(options.database);
    const out: NodeJS.WritableStream = options.out ? createWriteStream(options.out) : process.stdout;
    const progress = startProgress('exported', Math.max(0, (await store.lastAuditSeq()) - options.from));
    try {
      let after = options.from;
      for (let page = await store.auditRecords(after, PAGE); page.length; page = await store.auditRecords(after, PAGE)) {
        for (const record of page) {
          if (!out.write(toJson(record) + '\n')) await new Promise<void>((r) => out.once('drain', () => r()));
          after = record.seq;
        }
        progress.update(after - options.from);
      }
      progress.finish();
    } finally {
      await store.close();
      if (out !== process.stdout) await new Promise<void>((r) => out.end(() => r()));
    }
  });
}

const TAIL_HEADER = ['SEQ', 'TIME', 'CALLER', 'METHOD', 'KEY', 'DECISION', 'REASON'];
const TAIL_WIDTHS = [6, 8, 12, 12, 12, 8, 10]; // 80 columns with the gaps
const WIDE_TAIL_WIDTHS = [8, 24, 28, 24, 28, 9, 0];

/** `signer audit tail`: prints new records as they are written. */
export function auditTailCommand(): Command {
  const command = new Command('tail')
    .description('follow new audit records: one line each, or JSON lines with --json (Ctrl-C to stop)')
    .addOption(databaseOption())
    .addOption(seqOption('--from', 'start after this record (default: the current end)'))
    .option('--interval-ms <ms>', 'how often to look for new records', '500')
    .option('--wide', 'whole times and callers, no column cut')
    .option('--json', 'JSON lines, one record per line (as audit export)');
  withExamples(command, ['signer audit tail', 'signer audit tail --from 0 --json | jq -c \'select(.decision != "ok")\'']);
  return command.action(async (options: { database: string; from?: number; intervalMs: string; json?: boolean; wide?: boolean }) => {
    const widths = options.wide ? WIDE_TAIL_WIDTHS : TAIL_WIDTHS;
    const store = await openReadOnly(options.database);
    let after = options.from ?? (await store.lastAuditSeq());
    const stop = () => {
      void store.close().finally(() => process.exit(0));
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    if (!options.json) console.log(formatRow(widths, TAIL_HEADER, !options.wide));
    for (;;) {
      for (const record of await store.auditRecords(after, 1000)) {
        if (options.json) printJsonLine(record);
        else console.log(formatRow(widths, tailRow(record, options.wide), !options.wide));
        after = record.seq;
      }
      await new Promise((r) => setTimeout(r, Number(options.intervalMs)));
    }
  });
}

/** Narrow: the time of day and the caller without its SPIFFE trust domain, which every caller shares. */
function tailRow(record: AuditRecord, wide?: boolean): Array<string | number> {
  const time = new Date(record.timeMs).toISOString();
  if (wide) return [record.seq, time, record.caller, record.method, record.keyName, record.decision, record.reason];
  return [record.seq, time.slice(11, 19), record.caller.replace(/^spiffe:\/\/[^/]+\//, ''), record.method, record.keyName, record.decision, record.reason];
}
