import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initLlamaWeights, SeededRandom, type ModelConfig } from '@fedllm/core';
import { saveModelDir } from '@fedllm/core/node';

const root = fileURLToPath(new URL('../../..', import.meta.url));

function logits(args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'apps/server/src/cli/logits.ts'), ...args], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { tokens: number[]; logits: number[][] };
}

test('logits --engine webgpu (WGSL forward in headless Chromium) agrees with the CPU engine', async () => {
  // Qwen2-style checkpoint: GQA, q/k/v biases, untied head, stored as BF16.
  const cfg: ModelConfig = {
    architecture: 'Qwen2ForCausalLM', vocabSize: 61, hiddenSize: 24, intermediateSize: 40, numLayers: 2, numHeads: 6,
    numKvHeads: 2, headDim: 4, maxPositionEmbeddings: 64, ropeTheta: 1e6, rmsNormEps: 1e-6, tieWordEmbeddings: false,
    attentionBias: true, oProjBias: false, mlpBias: false,
  };
  const dir = await mkdtemp(join(tmpdir(), 'webgpu-logits-'));
  await saveModelDir(dir, cfg, initLlamaWeights(cfg, new SeededRandom(4), 0.3), { dtype: 'BF16' });
  const tokens = '0,5,60,5,17,33,2,9,41,12,0';
  const gpu = logits(['--engine', 'webgpu', '--model', dir, '--tokens', tokens]);
  const cpu = logits(['--model', dir, '--tokens', tokens]);
  assert.deepEqual(gpu.tokens, cpu.tokens);
  assert.equal(gpu.logits.length, 11);
  let diff = 0, max = 0;
  gpu.logits.forEach((row, t) => row.forEach((v, i) => {
    diff = Math.max(diff, Math.abs(v - cpu.logits[t][i]));
    max = Math.max(max, Math.abs(cpu.logits[t][i]));
  }));
  assert.ok(diff <= 1e-4 * Math.max(1, max), `max |gpu - cpu| = ${diff} (max |logit| ${max})`);
});
