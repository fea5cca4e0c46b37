// Prints the workspace's package graph as a Mermaid flowchart (docs/structure.md holds its
// output): a solid arrow is a runtime dependency, a dotted one a dev dependency, published
// packages in bold. `node scripts/structure.mjs > /tmp/graph.mmd`; with `--check` it fails when
// docs/structure.md's mermaid block is not what it would print (`npm run lint` runs that).
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const manifests = ['packages', 'services'].flatMap((dir) =>
  readdirSync(join(root, dir))
    .map((name) => join(root, dir, name, 'package.json'))
    .filter((file) => existsSync(file))
    .map((file) => JSON.parse(readFileSync(file, 'utf8'))),
);
const names = new Set(manifests.map((m) => m.name));
const id = (name) => name.replace('@keylane/', '').replace(/-/g, '_');
const lines = ['flowchart LR'];
for (const m of manifests.sort((a, b) => a.name.localeCompare(b.name))) {
  const label = m.name.replace('@keylane/', '');
  lines.push(`  ${id(m.name)}[${m.private ? label : `"<b>${label}</b>"`}]`);
}
for (const m of manifests) {
  for (const [kind, arrow] of [['dependencies', '-->'], ['devDependencies', '-.->']]) {
    for (const dep of Object.keys(m[kind] ?? {}).sort()) {
      if (names.has(dep)) lines.push(`  ${id(m.name)} ${arrow} ${id(dep)}`);
    }
  }
}
const graph = lines.join('\n');
if (process.argv.includes('--check')) {
  const doc = readFileSync(join(root, 'docs/structure.md'), 'utf8');
  const block = /```mermaid\n([\s\S]*?)\n```/.exec(doc)?.[1];
  if (block !== graph) {
    console.error(
      'docs/structure.md: the package graph is out of date with the package.json files; ' +
        'paste the output of `node scripts/structure.mjs` into its mermaid block',
    );
    process.exit(1);
  }
} else {
  console.log(graph);
}
