import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs';

/** Group and others may neither read nor write (nor list) a private directory. */
const OPEN_DIRECTORY_BITS = 0o066;
/** Group and others get nothing on a private file. */
const OPEN_FILE_BITS = 0o077;

const octal = (mode: number) => (mode & 0o777).toString(8).padStart(4, '0');

/**
 * Checks that `dir` is not readable or writable by group or others: it holds the database and, in
 * development, the token and its SO PIN. A missing one is created with mode 0700 (and missing parents
 * too) when `create`, else left alone. An existing directory is never chmod-ed: who may read it is the
 * operator's decision, so start-up refuses, naming the directory and the fix.
 */
export function ensurePrivateDirectory(dir: string, what: string, options: { create: boolean }): void {
  let stats;
  try {
    stats = statSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    if (options.create) mkdirSync(dir, { recursive: true, mode: 0o700 });
    return;
  }
  if (!stats.isDirectory()) throw new Error(`${what} ${dir} is not a directory`);
  if ((stats.mode & OPEN_DIRECTORY_BITS) !== 0) {
    throw new Error(`${what} ${dir} is readable or writable by group or others (mode ${octal(stats.mode)}): run chmod 700 ${dir}, then start again`);
  }
}

/**
 * Creates `file` empty with mode 0600 if it does not exist, and takes group and other permissions away
 * from it and from `companions` (SQLite's -wal and -shm files) where they exist and this user owns them.
 * SQLite creates its -wal and -shm files with the database file's mode, so they are 0600 from the start.
 */
export function createPrivateFile(file: string, companions: readonly string[] = []): void {
  closeSync(openSync(file, 'a', 0o600));
  for (const path of [file, ...companions]) {
    let stats;
    try {
      stats = statSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    if ((stats.mode & OPEN_FILE_BITS) !== 0 && stats.uid === process.getuid?.()) chmodSync(path, stats.mode & 0o700);
  }
}
