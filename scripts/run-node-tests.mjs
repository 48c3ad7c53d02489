// Runs every *.test.ts under packages/ and apps/ with Node's test runner (through tsx).
// Node 20's --test does not expand globs or pick up .ts files by itself, hence this script.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

// --unit: packages only (the core library's unit tests, about a minute); no server, browser or swarm.
const unit = process.argv.includes('--unit');
const roots = unit ? ['packages'] : ['packages', 'apps'];
const files = [];
function walk(dir) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.ts')) files.push(p);
  }
}
for (const r of roots) walk(r);
const filter = process.argv.slice(2).filter((a) => a !== '--unit');
const selected = filter.length ? files.filter((f) => filter.some((s) => f.includes(s))) : files;
if (selected.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...selected], {
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
