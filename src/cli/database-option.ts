import { Option } from 'commander';

/** `--database`: for the commands that read or write the signer's database directly, without a server. */
export const databaseOption = () => new Option('--database <file>', 'the signer database').env('SIGNER_DATABASE').default('data/signer.db');
