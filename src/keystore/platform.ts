import { existsSync, readdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Debian's SoftHSM2 module. */
export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';
/** OpenSC's PKCS#11 spy (the fault tests watch PKCS#11 calls through it), where Debian puts it. */
export const SPY_MODULES = ['/usr/lib/x86_64-linux-gnu/pkcs11/pkcs11-spy.so', '/usr/lib/x86_64-linux-gnu/pkcs11-spy.so', '/usr/lib/aarch64-linux-gnu/pkcs11/pkcs11-spy.so'];

interface Requirement {
  /** What is missing, as the message names it. */
  what: string;
  /** The Debian package that provides it. */
  debianPackage: 'softhsm2' | 'opensc';
  present: (path: string) => boolean;
}

const onPath = (command: string) => (path: string) => path.split(delimiter).some((dir) => dir !== '' && existsSync(join(dir, command)));

const REQUIREMENTS = {
  /** The embedded development token: the module and the tool that initialises tokens. */
  start: [
    { what: SOFTHSM_MODULE, debianPackage: 'softhsm2', present: () => existsSync(SOFTHSM_MODULE) },
    { what: 'softhsm2-util', debianPackage: 'softhsm2', present: onPath('softhsm2-util') },
  ],
  /** Tests also check non-extractability with pkcs11-tool and watch calls through the spy module. */
  tests: [
    { what: SOFTHSM_MODULE, debianPackage: 'softhsm2', present: () => existsSync(SOFTHSM_MODULE) },
    { what: 'softhsm2-util', debianPackage: 'softhsm2', present: onPath('softhsm2-util') },
    { what: 'pkcs11-tool', debianPackage: 'opensc', present: onPath('pkcs11-tool') },
    { what: 'pkcs11-spy.so', debianPackage: 'opensc', present: () => SPY_MODULES.some(existsSync) },
  ],
} satisfies Record<string, Requirement[]>;

/**
 * One line saying what is missing for `purpose` and the exact command that installs it, in the sudo
 * form and the root form (containers often have no sudo); undefined when nothing is missing.
 */
export function missingPlatform(purpose: keyof typeof REQUIREMENTS, path = process.env.PATH ?? ''): string | undefined {
  const missing = REQUIREMENTS[purpose].filter((requirement) => !requirement.present(path));
  if (missing.length === 0) return undefined;
  const packages = [...new Set(missing.map((m) => m.debianPackage))].join(' ');
  const install = `apt-get install -y ${packages}`;
  return `${missing.map((m) => m.what).join(', ')} not found: install with "sudo ${install}" (as root: "${install}")`;
}

/** Debian's PostgreSQL server binaries (kept off PATH), which the PostgreSQL tests start a server from. */
export function postgresInstalled(root = '/usr/lib/postgresql'): boolean {
  return existsSync(root) && readdirSync(root).some((major) => existsSync(join(root, major, 'bin', 'postgres')));
}

// `node dist/src/keystore/platform.js tests` (npm test's pretest): exit 1 with the line, before ava runs.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const purpose = process.argv[2] === 'start' ? 'start' : 'tests';
  const missing = missingPlatform(purpose);
  if (missing) {
    process.stderr.write(`${purpose === 'tests' ? 'the tests need SoftHSM2 and OpenSC' : 'the development token needs SoftHSM2'}: ${missing}\n`);
    process.exit(1);
  }
  if (purpose === 'tests' && !postgresInstalled()) {
    const install = 'apt-get install -y postgresql';
    process.stderr.write(`PostgreSQL binaries not found: the PostgreSQL tests will be skipped (with CI=true they fail); install with "sudo ${install}" (as root: "${install}")\n`);
  }
}
