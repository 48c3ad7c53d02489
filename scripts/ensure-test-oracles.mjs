// The tests check the project against independent Python oracles (tools/reference: numpy, llama.cpp's
// gguf reader, Rust tokenizers). Installs the pinned packages with pip when one is missing, so a
// missing oracle fails loudly here instead of a test skipping.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const requirements = fileURLToPath(new URL('../tools/reference/requirements.txt', import.meta.url));
const probe = () => spawnSync('python3', ['-c', 'import numpy, gguf, tokenizers'], { encoding: 'utf8' });
let r = probe();
if (r.error) {
  console.error(`python3 not found (${r.error.message}): the tests need Python 3 with pip for their oracles.`);
  process.exit(1);
}
if (r.status !== 0) {
  const inVenv = spawnSync('python3', ['-c', 'import sys; print(sys.prefix != sys.base_prefix)'], { encoding: 'utf8' }).stdout.trim() === 'True';
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const args = ['-m', 'pip', 'install', '--disable-pip-version-check', '-q', '-r', requirements, ...(isRoot || inVenv ? [] : ['--user'])];
  console.log(`Python test oracles missing: python3 ${args.join(' ')}`);
  const install = spawnSync('python3', args, { stdio: 'inherit' });
  r = probe();
  if (install.status !== 0 || r.status !== 0) {
    console.error(`could not install the Python oracles (${requirements}):\n${r.stderr}`);
    process.exit(1);
  }
}
