import test from 'ava';
import { existsSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { ROOT, anchorsIn, documentationFiles, proseOf, readRoot } from '../helpers/markdown.js';

// Every relative link in the README and docs/ leads somewhere: the file exists, and an anchor names a
// heading of that file.
test('every relative link in the README and docs/ resolves', (t) => {
  let checked = 0;
  for (const file of documentationFiles()) {
    const links = [...proseOf(readRoot(file)).matchAll(/\]\(([^)\s]+)\)/g)].map((match) => match[1]!);
    for (const link of links.filter((l) => !/^[a-z]+:/i.test(l))) {
      const [path, anchor] = link.split('#') as [string, string | undefined];
      const target = path === '' ? file : normalize(join(dirname(file), path));
      t.true(existsSync(join(ROOT, target)), `${file} links to ${link}: ${target} does not exist`);
      if (anchor !== undefined) t.true(anchorsIn(readRoot(target)).has(anchor), `${file} links to ${link}: no heading #${anchor} in ${target}`);
      checked++;
    }
  }
  t.true(checked >= 30, `only ${checked} relative links checked`);
});

test('the README stays short and links to every page of docs/', (t) => {
  const readme = readRoot('README.md');
  t.true(Buffer.byteLength(readme) <= 15 * 1024, `README.md is ${Buffer.byteLength(readme)} bytes`);
  for (const page of documentationFiles().filter((f) => f.startsWith('docs/'))) t.true(readme.includes(`](${page}`), `README.md does not link to ${page}`);
});
