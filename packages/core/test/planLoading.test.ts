// A submodel loads only what its plan keeps: base tensors of kept sub-blocks, LoRA pairs of the
// targets in kept sub-blocks. Oracle: the full model run with the same plan.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LlamaModel } from '../src/engine/llamaModel';
import { initLlamaWeights } from '../src/engine/initWeights';
import { createLoraAdapter, LORA_TARGETS } from '../src/model/lora';
import type { SubmodelPlan } from '../src/model/submodelPlan';
import { hfTensorNamesForPlan, weightsFromHfTensors, weightsToHfTensors } from '../src/model/hfWeights';
import { loraForPlan, loraFromPeft, loraToPeftTensors, peftAdapterConfig, peftTensorNamesForPlan, PeftAdapterError } from '../src/model/peftAdapter';
import { randomBatch, rngFrom, tinyConfig } from './fixtures/tinyModel';

const cfg = tinyConfig({ numLayers: 4 });
const plan: SubmodelPlan = { layers: [{ index: 0, attention: true, mlp: true }, { index: 2, attention: true, mlp: false }, { index: 3, attention: false, mlp: true }] };

test('a plan needs the kept sub-blocks only, and runs the same as the full checkpoint under that plan', () => {
  const w = initLlamaWeights(cfg, rngFrom(11), 0.2);
  const all = weightsToHfTensors(cfg, w);
  const names = hfTensorNamesForPlan(cfg, plan);
  assert.ok(names.some((n) => n.includes('layers.2.self_attn.q_proj')));
  assert.ok(!names.some((n) => n.includes('layers.2.mlp.') || n.includes('layers.3.self_attn.') || n.includes('layers.1.')));
  assert.ok(!names.some((n) => n.includes('layers.3.input_layernorm')) && names.some((n) => n.includes('layers.3.post_attention_layernorm')));
  const part = new Map([...all].filter(([n]) => names.includes(n)));
  const sub = weightsFromHfTensors(cfg, part, { plan });
  assert.equal(sub.layers[1], undefined);
  const batch = randomBatch(cfg, 2, 7, 3);
  const a = new LlamaModel(cfg, sub).logits(batch, { plan }), b = new LlamaModel(cfg, w).logits(batch, { plan });
  assert.deepEqual(Array.from(a), Array.from(b));
  // Dropping one needed tensor is refused by name.
  const short = new Map(part);
  short.delete('model.layers.3.mlp.up_proj.weight');
  assert.throws(() => weightsFromHfTensors(cfg, short, { plan }), /layers\.3\.mlp\.up_proj/);
});

test("a plan's adapter is exactly the targets of its kept sub-blocks", () => {
  const full = createLoraAdapter(cfg, { rank: 2, alpha: 4, targets: [...LORA_TARGETS] }, [0, 1, 2, 3], rngFrom(2), 0.1);
  const part = loraForPlan(full, plan);
  assert.deepEqual([...part.layers.keys()], [0, 2, 3]);
  assert.deepEqual(Object.keys(part.layers.get(2)!).sort(), ['k', 'o', 'q', 'v']);
  assert.deepEqual(Object.keys(part.layers.get(3)!).sort(), ['down', 'gate', 'up']);
  const tensors = loraToPeftTensors(part);
  assert.deepEqual([...tensors.keys()].sort(), peftTensorNamesForPlan(full.config, plan).sort());
  const cfgJson = peftAdapterConfig(full, cfg, 'base');
  const back = loraFromPeft(cfgJson, tensors, cfg, { plan });
  assert.deepEqual(Array.from(back.layers.get(2)!.q!.A.data), Array.from(full.layers.get(2)!.q!.A.data));
  // An extra pair outside the plan, or a missing one, is refused.
  const extra = loraToPeftTensors(loraForPlan(full, { layers: [...plan.layers, { index: 1, attention: true, mlp: false }] }));
  assert.throws(() => loraFromPeft(cfgJson, extra, cfg, { plan }), (e: unknown) => e instanceof PeftAdapterError && /outside the plan/.test(e.message));
  const missing = new Map(tensors);
  missing.delete([...missing.keys()][0]);
  assert.throws(() => loraFromPeft(cfgJson, missing, cfg, { plan }), /missing/);
});
