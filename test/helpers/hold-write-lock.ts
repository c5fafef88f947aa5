import Database from 'better-sqlite3';

/**
 * Run as a child process: takes the database's write lock (BEGIN IMMEDIATE), prints "locked", and
 * holds it until a line arrives on stdin (or stdin closes), then rolls back and exits.
 */
const path = process.argv[2];
if (!path) throw new Error('usage: hold-write-lock.js DATABASE');
const db = new Database(path);
db.exec('BEGIN IMMEDIATE');
process.stdout.write('locked\n');
const release = () => {
  db.exec('ROLLBACK');
  db.close();
  process.exit(0);
};
process.stdin.once('data', release);
process.stdin.once('end', release);
