import Database from 'better-sqlite3';
import { SignerError } from '../../domain/errors.js';
import type { KeyRecord } from '../../domain/key.js';
import type { KeyType } from '../../domain/key-types.js';
import type { Reservation, SpendLedger, Store } from '../store.js';
import { MIGRATIONS } from './migrations.js';

interface KeyRow {
  name: string;
  type: string;
  hsm_id: string;
  public_jwk: string;
  labels: string;
  created_at: number;
}

const BUSY_TIMEOUT_MS = 5000;

export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly statements;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // better-sqlite3 reopens WAL databases with synchronous=NORMAL: a commit must survive power loss.
    this.db.pragma('synchronous = FULL');
    this.db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    this.db.pragma('foreign_keys = ON');
    migrate(this.db);
    this.statements = {
      insertKey: this.db.prepare<[KeyRow]>(
        `INSERT INTO keys (name, type, hsm_id, public_jwk, labels, created_at)
         VALUES (@name, @type, @hsm_id, @public_jwk, @labels, @created_at)`,
      ),
      findKey: this.db.prepare<[string], KeyRow>('SELECT * FROM keys WHERE name = ?'),
      listKeys: this.db.prepare<[string, number], KeyRow>('SELECT * FROM keys WHERE name > ? ORDER BY name LIMIT ?'),
      latest: this.db.prepare<[string], { at_ms: number; cumulative: string }>(
        'SELECT at_ms, cumulative FROM reservations WHERE scope = ? ORDER BY seq DESC LIMIT 1',
      ),
      totalAt: this.db.prepare<[string, number], { cumulative: string }>(
        'SELECT cumulative FROM reservations WHERE scope = ? AND at_ms <= ? ORDER BY at_ms DESC, seq DESC LIMIT 1',
      ),
      insertReservation: this.db.prepare<[string, number, string, string, string]>(
        'INSERT INTO reservations (scope, at_ms, amount, cumulative, policy_hash) VALUES (?, ?, ?, ?, ?)',
      ),
    };
    this.ledger = {
      used: (scope, perMs, now) => {
        const latest = this.statements.latest.get(scope);
        if (!latest) return 0n;
        const before = this.statements.totalAt.get(scope, now - perMs);
        return BigInt(latest.cumulative) - BigInt(before?.cumulative ?? '0');
      },
    };
  }

  readonly ledger: SpendLedger;

  reserve<T extends Reservation>(now: number, decide: (ledger: SpendLedger) => T): T {
    return this.db
      .transaction(() => {
        const reservation = decide(this.ledger);
        for (const { scope, amount } of reservation.spends) {
          const latest = this.statements.latest.get(scope);
          // Times never go backwards within a scope, so running totals stay ordered by time.
          const at = Math.max(now, latest?.at_ms ?? now);
          const cumulative = BigInt(latest?.cumulative ?? '0') + amount;
          this.statements.insertReservation.run(scope, at, amount.toString(), cumulative.toString(), reservation.policyHash);
        }
        return reservation;
      })
      .immediate();
  }

  insertKey(key: KeyRecord): void {
    try {
      this.statements.insertKey.run({
        name: key.name,
        type: key.type,
        hsm_id: key.hsmId,
        public_jwk: JSON.stringify(key.publicJwk),
        labels: JSON.stringify(key.labels),
        created_at: key.createdAt.getTime(),
      });
    } catch (error) {
      if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
        throw new SignerError('KEY_EXISTS', `key "${key.name}" already exists`, 'name');
      }
      throw error;
    }
  }

  findKey(name: string): KeyRecord | undefined {
    const row = this.statements.findKey.get(name);
    return row && toKeyRecord(row);
  }

  listKeys(limit: number, afterName = ''): KeyRecord[] {
    return this.statements.listKeys.all(afterName, limit).map(toKeyRecord);
  }

  close(): void {
    this.db.close();
  }
}

function migrate(db: Database.Database): void {
  const applied = db.pragma('user_version', { simple: true }) as number;
  if (applied > MIGRATIONS.length) {
    throw new Error(`database schema version ${applied} is newer than this service (${MIGRATIONS.length})`);
  }
  db.transaction(() => {
    for (const sql of MIGRATIONS.slice(applied)) db.exec(sql);
    db.pragma(`user_version = ${MIGRATIONS.length}`);
  }).immediate();
}

function toKeyRecord(row: KeyRow): KeyRecord {
  return {
    name: row.name,
    type: row.type as KeyType,
    hsmId: row.hsm_id,
    publicJwk: JSON.parse(row.public_jwk),
    labels: JSON.parse(row.labels),
    createdAt: new Date(row.created_at),
  };
}
