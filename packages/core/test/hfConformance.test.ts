// Conformance of the project's CPU engine (through the `logits` CLI) with an independent
// float64 numpy oracle written from the Hugging Face modeling code:
// tools/reference/llama_numpy.py. The oracle also writes the random tiny checkpoints
// (config.json + model.safetensors with its own safetensors writer), so neither the
// checkpoint format nor the forward pass is checked against the project's own code.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const oracle = join(repoRoot, 'tools', 'reference', 'llama_numpy.py');
const cli = join('apps', 'server', 'src', 'cli', 'logits.ts');

const numpyProbe = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' });
const numpyMissing = numpyProbe.error
  ? `python3 with numpy not available: ${numpyProbe.error.message}`
  : numpyProbe.status !== 0
    ? `python3 with numpy not available: ${numpyProbe.stderr.trim().split('\n').pop()}`
    : null;

const workDir = mkdtempSync(join(tmpdir(), 'hf-conformance-'));
after(() => rmSync(workDir, { recursive: true, force: true }));

function run(cmd: string, args: string[]): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd: repoRoot, encoding: 'utf8', maxBuffer: 64 << 20 });
}

function python(args: string[]): string {
  const r = run('python3', [oracle, ...args]);
  assert.equal(r.status, 0, `python3 llama_numpy.py ${args.join(' ')} failed:\n${r.stderr}`);
  return r.stdout;
}

function projectCli(dir: string, tokens: number[]): SpawnSyncReturns<string> {
  return run(process.execPath, ['--import', 'tsx', cli, '--model', dir, '--tokens', tokens.join(',')]);
}

function makeCheckpoint(name: string, args: string[]): string {
  const dir = join(workDir, name);
  python(['make-checkpoint', '--out', dir, ...args]);
  return dir;
}

interface LogitsOutput { tokens: number[]; logits: number[][] }

interface Variant { name: string; args: string[]; vocab: number; tokens: number[] }

// Shapes are deliberately odd (hidden 18/20/22, intermediate 29/37, vocab 47/53/61) and
// every variant uses GQA (fewer kv heads than heads).
const variants: Variant[] = [
  {
    name: 'llama untied, GQA 5q/1kv, rope_theta 50000, F32',
    args: ['--arch', 'llama', '--seed', '11', '--hidden', '20', '--heads', '5', '--kv-heads', '1', '--head-dim', '4',
      '--intermediate', '37', '--vocab', '53', '--rope-theta', '50000', '--dtype', 'F32'],
    vocab: 53,
    tokens: [1, 0, 52, 7, 7, 19, 0, 52, 33, 7, 2, 40, 13, 52],
  },
  {
    name: 'llama tied, attention_bias + mlp_bias, head_dim 6 != hidden/heads, llama3 rope_scaling, BF16',
    args: ['--arch', 'llama', '--seed', '12', '--tied', '--attention-bias', '--mlp-bias', '--hidden', '20', '--heads', '4',
      '--kv-heads', '2', '--head-dim', '6', '--intermediate', '37', '--vocab', '53', '--rope-scaling', 'llama3', '--dtype', 'BF16'],
    vocab: 53,
    tokens: [0, 52, 52, 3, 17, 0, 29, 3, 44, 12, 52, 0],
  },
  {
    name: 'qwen2 (q/k/v bias, implicit head_dim), rope_theta 1e6, eps 1e-6, F16',
    args: ['--arch', 'qwen2', '--seed', '13', '--hidden', '18', '--heads', '3', '--kv-heads', '1', '--intermediate', '29',
      '--vocab', '61', '--rope-theta', '1000000', '--eps', '1e-6', '--layers', '3', '--dtype', 'F16'],
    vocab: 61,
    tokens: [60, 0, 5, 5, 5, 31, 60, 0, 17, 44, 2, 9, 31, 58, 1, 60, 23],
  },
  {
    name: 'mistral, head_dim 6 != hidden/heads, sliding_window null, eps 1e-3 (so a misread eps shows), F32',
    args: ['--arch', 'mistral', '--seed', '14', '--hidden', '22', '--heads', '4', '--kv-heads', '2', '--head-dim', '6',
      '--intermediate', '37', '--vocab', '47', '--layers', '3', '--eps', '1e-3', '--dtype', 'F32'],
    vocab: 47,
    tokens: [1, 46, 0, 8, 8, 21, 46, 0, 35, 12, 8],
  },
  {
    name: 'mistral, sliding_window 4 (shorter than the 13-token sequence), BF16',
    args: ['--arch', 'mistral', '--seed', '15', '--hidden', '22', '--heads', '4', '--kv-heads', '2', '--head-dim', '6',
      '--intermediate', '29', '--vocab', '47', '--sliding-window', '4', '--dtype', 'BF16'],
    vocab: 47,
    tokens: [0, 46, 3, 3, 19, 0, 27, 46, 9, 3, 40, 11, 0],
  },
];

for (const [i, v] of variants.entries()) {
  test(`HF conformance: ${v.name}`, (t) => {
    if (numpyMissing) {
      t.skip(numpyMissing);
      return;
    }
    assert.ok(v.tokens.includes(0) && v.tokens.includes(v.vocab - 1), 'token list should cover ids 0 and vocab-1');
    const dir = makeCheckpoint(`variant-${i}`, v.args);
    const expected = JSON.parse(python(['logits', '--model', dir, '--tokens', v.tokens.join(',')])) as LogitsOutput;
    const r = projectCli(dir, v.tokens);
    assert.equal(r.status, 0, `project logits CLI failed:\n${r.stderr}`);
    const actual = JSON.parse(r.stdout) as LogitsOutput;

    assert.deepEqual(actual.tokens, v.tokens);
    assert.deepEqual(expected.tokens, v.tokens);
    assert.equal(expected.logits.length, v.tokens.length);
    assert.equal(actual.logits.length, v.tokens.length);
    let maxAbs = 0;
    let maxDiff = 0;
    let worst = '';
    for (let p = 0; p < v.tokens.length; p++) {
      assert.equal(expected.logits[p].length, v.vocab, `oracle row ${p} width`);
      assert.equal(actual.logits[p].length, v.vocab, `engine row ${p} width`);
      for (let j = 0; j < v.vocab; j++) {
        const e = expected.logits[p][j];
        const a = actual.logits[p][j];
        assert.ok(Number.isFinite(a), `engine logit [${p}][${j}] is not finite: ${a}`);
        maxAbs = Math.max(maxAbs, Math.abs(e));
        const d = Math.abs(a - e);
        if (d > maxDiff) {
          maxDiff = d;
          worst = `position ${p} (token ${v.tokens[p]}), vocab id ${j}: engine ${a}, oracle ${e}`;
        }
      }
    }
    const tol = 1e-4 * Math.max(1, maxAbs);
    t.diagnostic(`max |diff| ${maxDiff.toExponential(3)} (tolerance ${tol.toExponential(3)}, max |logit| ${maxAbs.toFixed(3)})`);
    assert.ok(maxDiff <= tol, `max |diff| ${maxDiff} > ${tol} at ${worst}`);
  });
}

test('HF conformance: the logits CLI rejects an unsupported architecture by name', (t) => {
  if (numpyMissing) {
    t.skip(numpyMissing);
    return;
  }
  const dir = makeCheckpoint('gpt2-arch', ['--arch', 'llama', '--seed', '21']);
  const configPath = join(dir, 'config.json');
  const config = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
  config.architectures = ['GPT2LMHeadModel'];
  config.model_type = 'gpt2';
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  const r = projectCli(dir, [1, 2, 3]);
  assert.notEqual(r.status, 0, `expected a non-zero exit, stdout: ${r.stdout.slice(0, 200)}`);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /GPT2LMHeadModel/);
  assert.match(r.stderr, /architecture/i);
});

test('HF conformance: the logits CLI names a tensor missing from model.safetensors', (t) => {
  if (numpyMissing) {
    t.skip(numpyMissing);
    return;
  }
  const missing = 'model.layers.1.mlp.up_proj.weight';
  const dir = makeCheckpoint('missing-tensor', ['--arch', 'qwen2', '--seed', '22', '--hidden', '18', '--heads', '3',
    '--kv-heads', '1', '--drop-tensor', missing]);
  const r = projectCli(dir, [1, 2, 3]);
  assert.notEqual(r.status, 0, `expected a non-zero exit, stdout: ${r.stdout.slice(0, 200)}`);
  assert.equal(r.stdout, '');
  assert.ok(r.stderr.includes(missing), `stderr should name ${missing}:\n${r.stderr}`);
  assert.match(r.stderr, /missing/i);
});
