import { join, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { DEFAULT_DATA_DIR } from '../config.js';
import { isPostgresUrl } from '../store/open-store.js';

/**
 * `--data-dir`: found as the service finds it (flag, then SIGNER_DATA_DIR, then data/ in the
 * package), so the installed `signer` works from any directory.
 */
export const dataDirOption = () =>
  new Option('--data-dir <dir>', 'the signer\'s data directory').env('SIGNER_DATA_DIR').default(DEFAULT_DATA_DIR, 'data/ in the package');

/** `--database`: for the commands that read or write the signer's database directly, without a server. */
export const databaseOption = () =>
  new Option('--database <file|url>', 'the signer database: a SQLite file, or postgres://USER@HOST:PORT/DB (default: <data-dir>/signer.db)').env('SIGNER_DATABASE');

/** A command with --database also gets --data-dir; its action sees `database` resolved (<data-dir>/signer.db unless given). */
export function resolveDatabaseFromDataDir(command: Command): void {
  if (!command.options.some((o) => o.long === '--database')) return;
  command.addOption(dataDirOption()).hook('preAction', (_, action) => {
    const options = action.opts<{ database?: string; dataDir: string }>();
    const database = options.database ?? join(options.dataDir, 'signer.db');
    action.setOptionValue('database', isPostgresUrl(database) ? database : resolve(database));
  });
}
