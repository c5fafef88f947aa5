import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

// The API table in docs/api.md is checked against the contract: every RPC listed, none invented, and every
// RPC documented by a comment in the proto (what the table summarises).
const ROOT = join(import.meta.dirname, '..', '..', '..');
const proto = readFileSync(join(ROOT, 'proto', 'signer', 'v1', 'signer.proto'), 'utf8');
const apiDoc = readFileSync(join(ROOT, 'docs', 'api.md'), 'utf8');

function protoRpcs(): Map<string, string[]> {
  const service = /service Signer \{([\s\S]*?)\n\}/.exec(proto)?.[1] ?? '';
  const rpcs = new Map<string, string[]>();
  let comments: string[] = [];
  for (const line of service.split('\n').map((l) => l.trim())) {
    if (line.startsWith('//')) comments.push(line.slice(2).trim());
    else if (line.startsWith('rpc ')) {
      rpcs.set(/^rpc (\w+)/.exec(line)![1]!, comments);
      comments = [];
    } else if (line === '') comments = [];
  }
  return rpcs;
}

function documentedRpcs(): Set<string> {
  const section = apiDoc.slice(apiDoc.indexOf('\n## API\n'), apiDoc.indexOf('\n### What the decoders refuse'));
  const names = new Set<string>();
  for (const row of section.split('\n').filter((line) => /^\| `/.test(line))) {
    for (const match of row.split('|')[1]!.matchAll(/`(\w+)`/g)) names.add(match[1]!);
  }
  return names;
}

test('the API table of docs/api.md lists exactly the RPCs of the proto', (t) => {
  const rpcs = protoRpcs();
  t.true(rpcs.size >= 20);
  t.deepEqual([...documentedRpcs()].sort(), [...rpcs.keys()].sort());
});

test('every RPC has a comment in the proto', (t) => {
  for (const [name, comments] of protoRpcs()) t.true(comments.join(' ').length > 10, `${name} has no comment`);
});
