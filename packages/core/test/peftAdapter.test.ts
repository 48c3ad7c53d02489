import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLoraAdapter } from '../src/model/lora';
import { loraFromPeft, loraToPeftTensors, peftAdapterConfig, PeftAdapterError } from '../src/model/peftAdapter';
import { readSafetensorsHeader, serializeSafetensors } from '../src/model/safetensors';
import { loadAdapterDir, saveAdapterDir } from '../src/node/adapterDir';
import { rngFrom, tinyConfig } from './fixtures/tinyModel';

const cfg = tinyConfig();

test('PEFT adapter directory round-trips with PEFT names, shapes and config keys', async () => {
  const a = createLoraAdapter(cfg, { rank: 2, alpha: 4, targets: ['q', 'v', 'down'] }, [0, 2], rngFrom(1), 0.1);
  const dir = await mkdtemp(join(tmpdir(), 'peft-'));
  await saveAdapterDir(dir, a, cfg, 'models/x');
  const conf = JSON.parse(await readFile(join(dir, 'adapter_config.json'), 'utf8'));
  assert.equal(conf.peft_type, 'LORA');
  assert.equal(conf.task_type, 'CAUSAL_LM');
  assert.equal(conf.r, 2);
  assert.equal(conf.lora_alpha, 4);
  assert.deepEqual(conf.target_modules, ['q_proj', 'v_proj', 'down_proj']);
  assert.deepEqual(conf.layers_to_transform, [0, 2]);
  const header = readSafetensorsHeader(new Uint8Array(await readFile(join(dir, 'adapter_model.safetensors'))));
  const names = [...header.tensors.keys()].sort();
  assert.ok(names.includes('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight'));
  assert.ok(names.includes('base_model.model.model.layers.2.mlp.down_proj.lora_B.weight'));
  assert.equal(names.length, 2 * 3 * 2);
  const back = await loadAdapterDir(dir, cfg);
  assert.deepEqual(back.config, a.config);
  for (const [l, layer] of a.layers) {
    for (const [t, p] of Object.entries(layer)) {
      const q = back.layers.get(l)![t as 'q'];
      assert.deepEqual(q!.A.shape, p!.A.shape);
      assert.deepEqual(Array.from(q!.B.data), Array.from(p!.B.data));
    }
  }
  assert.equal(peftAdapterConfig(createLoraAdapter(cfg, { rank: 1, alpha: 1, targets: ['q'] }, [0, 1, 2], rngFrom(1)), cfg, 'm').layers_to_transform, null);
});

test('malformed PEFT adapters are refused with a clear error', async () => {
  const a = createLoraAdapter(cfg, { rank: 2, alpha: 4, targets: ['q'] }, [0], rngFrom(1));
  const tensors = loraToPeftTensors(a);
  const conf = peftAdapterConfig(a, cfg, 'm');
  const bad = (c: unknown, t = tensors) => () => loraFromPeft(c, t, cfg);
  assert.throws(bad({ ...conf, peft_type: 'IA3' }), /only LORA/);
  assert.throws(bad({ ...conf, use_dora: true }), /DoRA/);
  assert.throws(bad({ ...conf, target_modules: ['c_attn'] }), /unsupported target module "c_attn"/);
  const wrongShape = new Map(tensors);
  wrongShape.set('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight', { shape: [3, 12], data: new Float32Array(36) });
  assert.throws(bad(conf, wrongShape), /shape \[3, 12\], expected \[2, 12\]/);
  const missing = new Map(tensors);
  missing.delete('base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight');
  assert.throws(bad(conf, missing), /missing lora_A or lora_B for q_proj/);
  const stray = new Map(tensors);
  stray.set('model.layers.0.self_attn.q_proj.weight', { shape: [12, 12], data: new Float32Array(144) });
  assert.throws(bad(conf, stray), /unexpected tensor/);
  const tooDeep = new Map([['base_model.model.model.layers.9.self_attn.q_proj.lora_A.weight', { shape: [2, 12], data: new Float32Array(24) }]]);
  assert.throws(bad(conf, tooDeep), /layer 9, but the model has 3 layers/);
  const dir = await mkdtemp(join(tmpdir(), 'peft-bad-'));
  await assert.rejects(loadAdapterDir(dir, cfg), (e: Error) => e instanceof PeftAdapterError && /no adapter_config\.json/.test(e.message));
  await writeFile(join(dir, 'adapter_config.json'), '{oops');
  await writeFile(join(dir, 'adapter_model.safetensors'), serializeSafetensors(tensors));
  await assert.rejects(loadAdapterDir(dir, cfg), /not valid JSON/);
});
