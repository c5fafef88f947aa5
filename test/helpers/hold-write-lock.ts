import Database from 'better-sqlite3';

/**
 * Run as a child process: takes the database's write lock (BEGIN IMMEDIATE), prints "locked", and
 * holds it until a line arrives on stdin (or stdin closes), or HOLD_MS have passed when given, then
 * rolls back and exits. Its own timer: a parent whose event loop stalls cannot stretch the hold.
 */
const [path, holdMs] = process.argv.slice(2);
if (!path) throw new Error('usage: hold-write-lock.js DATABASE [HOLD_MS]');
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
if (holdMs !== undefined) setTimeout(release, Number(holdMs));
