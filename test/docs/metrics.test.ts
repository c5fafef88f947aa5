import test from 'ava';
import { documentationFiles, readRoot } from '../helpers/markdown.js';
import { startTestSigner } from '../helpers/signer.js';

// Every metric the documentation names is one the service exports: a renamed or removed metric would
// otherwise leave dashboards and alerts written from the docs silently empty.
test('every metric named in the README and docs/ is served on /metrics', async (t) => {
  const s = await startTestSigner();
  t.teardown(() => s.stop());
  const exposition = await (await fetch(s.signer.metrics!.url)).text();
  const served = new Set([...exposition.matchAll(/^# TYPE (\S+) (\w+)$/gm)].flatMap(([, name, type]) =>
    type === 'histogram' ? [name!, `${name}_bucket`, `${name}_sum`, `${name}_count`] : [name!],
  ));
  const mentions = documentationFiles().flatMap((file) => [...readRoot(file).matchAll(/\b((?:signer|nodejs|process)_[a-z0-9_]+)\b/g)]);
  // A trailing underscore names a family (`nodejs_*`), not a metric.
  const named = new Set(mentions.map((m) => m[1]!).filter((name) => !name.endsWith('_')));
  t.true(named.size >= 8, `only ${named.size} metrics named in the docs`);
  for (const name of named) t.true(served.has(name), `${name} is named in the docs but not served`);
});
