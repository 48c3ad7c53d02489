import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LlamaModel } from '../src/engine/llamaModel';
import { initLlamaWeights } from '../src/engine/initWeights';
import { createLoraAdapter, loraScale, LORA_TARGETS } from '../src/model/lora';
import { AdamW } from '../src/engine/adamw';
import { LoraTrainer } from '../src/training/loraTrainer';
import type { LlamaWeights } from '../src/model/llamaWeights';
import { randomBatch, rngFrom, tinyConfig } from './fixtures/tinyModel';

const cfg = tinyConfig({ numKvHeads: 1 });

test('a fresh LoRA adapter (B = 0) leaves the logits unchanged', () => {
  const w = initLlamaWeights(cfg, rngFrom(1), 0.2);
  const m = new LlamaModel(cfg, w);
  const lora = createLoraAdapter(cfg, { rank: 4, alpha: 8, targets: [...LORA_TARGETS] }, [0, 1, 2], rngFrom(2));
  const batch = randomBatch(cfg, 2, 6, 3);
  assert.deepEqual(Array.from(m.logits(batch, { lora })), Array.from(m.logits(batch)));
});

test('the LoRA path equals merging scale·B·A into the base weights', () => {
  const w = initLlamaWeights(cfg, rngFrom(1), 0.2);
  const lora = createLoraAdapter(cfg, { rank: 3, alpha: 5, targets: ['q', 'v', 'o', 'down'] }, [0, 2], rngFrom(2), 0.2);
  const s = loraScale(lora.config);
  const key = { q: 'qProj', k: 'kProj', v: 'vProj', o: 'oProj', gate: 'gateProj', up: 'upProj', down: 'downProj' } as const;
  const merged: LlamaWeights = {
    ...w,
    layers: w.layers.map((l, i) => {
      const ll = lora.layers.get(i);
      if (!l || !ll) return l;
      const c = { ...l };
      for (const [t, p] of Object.entries(ll)) {
        const base = l[key[t as keyof typeof key]];
        const [out, inp] = base.shape, r = p!.A.shape[0];
        const data = Float32Array.from(base.data);
        for (let o = 0; o < out; o++) for (let k = 0; k < inp; k++) {
          let acc = 0;
          for (let j = 0; j < r; j++) acc += p!.B.data[o * r + j] * p!.A.data[j * inp + k];
          data[o * inp + k] += s * acc;
        }
        c[key[t as keyof typeof key]] = { shape: base.shape, data };
      }
      return c;
    }),
  };
  const batch = randomBatch(cfg, 2, 7, 5);
  const a = new LlamaModel(cfg, w).logits(batch, { lora });
  const b = new LlamaModel(cfg, merged).logits(batch);
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i] - b[i]));
  assert.ok(diff < 1e-5, `max diff ${diff}`);
});

test('AdamW takes exactly the torch.optim.AdamW step', () => {
  const p = { shape: [2], data: new Float64Array([1.0, -2.0]) };
  const opt = new AdamW([{ tensor: p }], { lr: 0.1, weightDecay: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8 });
  opt.update([new Float64Array([0.5, -0.25])]);
  // Step 1: m̂ = g, v̂ = g², so the update is lr·g/(|g|+eps) after decoupled decay.
  assert.ok(Math.abs(p.data[0] - (1.0 * (1 - 0.001) - 0.1 * 0.5 / (0.5 + 1e-8))) < 1e-12);
  assert.ok(Math.abs(p.data[1] - (-2.0 * (1 - 0.001) + 0.1 * 0.25 / (0.25 + 1e-8))) < 1e-12);
  opt.update([new Float64Array([0.5, 0.5])]);
  const m = 0.9 * 0.05 + 0.1 * 0.5, v = 0.999 * 0.001 * 0.25 + 0.001 * 0.25;
  const p1 = 1.0 * (1 - 0.001) - (0.1 * 0.5) / (0.5 + 1e-8);
  const expected = p1 * (1 - 0.001) - (0.1 * (m / (1 - 0.81))) / (Math.sqrt(v / (1 - 0.999 ** 2)) + 1e-8);
  assert.ok(Math.abs(p.data[0] - expected) < 1e-12, `${p.data[0]} vs ${expected}`);
});

test('LoRA training drives the loss on a fixed batch down, and touches only the adapter', () => {
  const w = initLlamaWeights(cfg, rngFrom(7), 0.2);
  const before = w.layers.map((l) => Float32Array.from(l!.qProj.data));
  const m = new LlamaModel(cfg, w);
  const lora = createLoraAdapter(cfg, { rank: 4, alpha: 8, targets: ['q', 'v', 'gate', 'down'] }, [0, 1, 2], rngFrom(8));
  const trainer = new LoraTrainer(m, lora, { lr: 1e-2 });
  const batch = randomBatch(cfg, 4, 8, 9, 3);
  const losses: number[] = [];
  for (let i = 0; i < 40; i++) losses.push(trainer.step(batch));
  assert.ok(losses[39] < losses[0] * 0.7, `loss ${losses[0]} -> ${losses[39]}`);
  w.layers.forEach((l, i) => assert.deepEqual(Array.from(l!.qProj.data), Array.from(before[i])));
});
