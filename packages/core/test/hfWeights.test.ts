import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hfTensorNamesForLayers, HfWeightsError, weightsFromHfTensors, weightsToHfTensors } from '../src/model/hfWeights';
import { toHfConfig } from '../src/model/hfConfig';
import type { ModelConfig } from '../src/model/modelConfig';
import type { Tensor } from '../src/model/tensor';
import { serializeSafetensors } from '../src/model/safetensors';
import { bf16BitsToF32, f32ToBf16Bits } from '../src/model/halfFloat';
import { loadModelDir, ModelDirError, saveModelDir } from '../src/node/index';

// vocab 11, hidden 8, intermediate 12, 3 layers, 4 heads of dim 3 (q: 12), 2 kv heads (kv: 6).
const base: ModelConfig = {
  architecture: 'LlamaForCausalLM',
  vocabSize: 11,
  hiddenSize: 8,
  intermediateSize: 12,
  numLayers: 3,
  numHeads: 4,
  numKvHeads: 2,
  headDim: 3,
  maxPositionEmbeddings: 64,
  ropeTheta: 10000,
  rmsNormEps: 1e-6,
  tieWordEmbeddings: false,
  attentionBias: false,
  oProjBias: false,
  mlpBias: false,
};
const qwen: ModelConfig = { ...base, architecture: 'Qwen2ForCausalLM', attentionBias: true, tieWordEmbeddings: true };
const llamaBiased: ModelConfig = { ...base, attentionBias: true, oProjBias: true, mlpBias: true };

let counter = 0;
function t(shape: number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return { shape, data: Float32Array.from({ length: n }, () => ++counter / 64) };
}

/** HF checkpoint tensors with shapes written out independently of the implementation's table. */
function checkpoint(cfg: ModelConfig): Map<string, Tensor> {
  const m = new Map<string, Tensor>([['model.embed_tokens.weight', t([11, 8])]]);
  for (let i = 0; i < cfg.numLayers; i++) {
    const p = `model.layers.${i}.`;
    m.set(p + 'input_layernorm.weight', t([8]));
    m.set(p + 'self_attn.q_proj.weight', t([12, 8]));
    m.set(p + 'self_attn.k_proj.weight', t([6, 8]));
    m.set(p + 'self_attn.v_proj.weight', t([6, 8]));
    m.set(p + 'self_attn.o_proj.weight', t([8, 12]));
    if (cfg.attentionBias) {
      m.set(p + 'self_attn.q_proj.bias', t([12]));
      m.set(p + 'self_attn.k_proj.bias', t([6]));
      m.set(p + 'self_attn.v_proj.bias', t([6]));
    }
    if (cfg.oProjBias) m.set(p + 'self_attn.o_proj.bias', t([8]));
    m.set(p + 'post_attention_layernorm.weight', t([8]));
    m.set(p + 'mlp.gate_proj.weight', t([12, 8]));
    m.set(p + 'mlp.up_proj.weight', t([12, 8]));
    m.set(p + 'mlp.down_proj.weight', t([8, 12]));
    if (cfg.mlpBias) {
      m.set(p + 'mlp.gate_proj.bias', t([12]));
      m.set(p + 'mlp.up_proj.bias', t([12]));
      m.set(p + 'mlp.down_proj.bias', t([8]));
    }
  }
  m.set('model.norm.weight', t([8]));
  if (!cfg.tieWordEmbeddings) m.set('lm_head.weight', t([11, 8]));
  return m;
}

function rejects(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof HfWeightsError, `expected HfWeightsError, got ${String(e)}`);
    assert.match(e.message, message);
    return true;
  });
}

function without(m: Map<string, Tensor>, ...names: string[]): Map<string, Tensor> {
  const out = new Map(m);
  for (const n of names) out.delete(n);
  return out;
}

test('maps every HF tensor to the right LlamaWeights field (untied Llama)', () => {
  const ck = checkpoint(base);
  const w = weightsFromHfTensors(base, ck);
  const data = (name: string) => ck.get(name)!.data;
  assert.equal(w.embed.data, data('model.embed_tokens.weight'));
  assert.equal(w.finalNorm.data, data('model.norm.weight'));
  assert.equal(w.lmHead.data, data('lm_head.weight'));
  assert.equal(w.layers.length, 3);
  const l2 = w.layers[2]!;
  assert.equal(l2.inputNorm.data, data('model.layers.2.input_layernorm.weight'));
  assert.equal(l2.qProj.data, data('model.layers.2.self_attn.q_proj.weight'));
  assert.equal(l2.kProj.data, data('model.layers.2.self_attn.k_proj.weight'));
  assert.equal(l2.vProj.data, data('model.layers.2.self_attn.v_proj.weight'));
  assert.equal(l2.oProj.data, data('model.layers.2.self_attn.o_proj.weight'));
  assert.equal(l2.postNorm.data, data('model.layers.2.post_attention_layernorm.weight'));
  assert.equal(l2.gateProj.data, data('model.layers.2.mlp.gate_proj.weight'));
  assert.equal(l2.upProj.data, data('model.layers.2.mlp.up_proj.weight'));
  assert.equal(l2.downProj.data, data('model.layers.2.mlp.down_proj.weight'));
  assert.equal(l2.qBias, undefined);
  assert.equal(l2.gateBias, undefined);
});

test('biases: Qwen2 q/k/v only, Llama attention_bias + mlp_bias all', () => {
  const q = weightsFromHfTensors(qwen, checkpoint(qwen)).layers[0]!;
  assert.deepEqual([q.qBias?.shape, q.kBias?.shape, q.vBias?.shape, q.oBias], [[12], [6], [6], undefined]);
  const ck = checkpoint(llamaBiased);
  const l = weightsFromHfTensors(llamaBiased, ck).layers[1]!;
  assert.equal(l.oBias!.data, ck.get('model.layers.1.self_attn.o_proj.bias')!.data);
  assert.equal(l.gateBias!.data, ck.get('model.layers.1.mlp.gate_proj.bias')!.data);
  assert.equal(l.upBias!.data, ck.get('model.layers.1.mlp.up_proj.bias')!.data);
  assert.equal(l.downBias!.data, ck.get('model.layers.1.mlp.down_proj.bias')!.data);
});

test('tied embeddings: lmHead is embed; a stored lm_head is ignored; untied without lm_head fails', () => {
  const w = weightsFromHfTensors(qwen, checkpoint(qwen));
  assert.equal(w.lmHead, w.embed);
  const withHead = new Map(checkpoint(qwen)).set('lm_head.weight', t([11, 8]));
  const w2 = weightsFromHfTensors(qwen, withHead);
  assert.equal(w2.lmHead, w2.embed);
  rejects(() => weightsFromHfTensors(base, without(checkpoint(base), 'lm_head.weight')), /missing 1 tensor\(s\) required by config.json: lm_head.weight/);
});

test('reports all missing tensors in one error', () => {
  const ck = without(checkpoint(base), 'model.norm.weight', 'model.layers.0.mlp.up_proj.weight', 'model.layers.2.self_attn.k_proj.weight');
  rejects(
    () => weightsFromHfTensors(base, ck),
    /missing 3 tensor\(s\).*model\.layers\.0\.mlp\.up_proj\.weight, model\.layers\.2\.self_attn\.k_proj\.weight, model\.norm\.weight/,
  );
  // A Qwen2 config needs the q/k/v biases.
  rejects(() => weightsFromHfTensors(qwen, checkpoint({ ...qwen, attentionBias: false })), /missing 9 tensor\(s\).*q_proj\.bias/);
});

test('checks shapes against the config, naming tensor, expected and actual', () => {
  const ck = checkpoint(base);
  ck.set('model.layers.1.self_attn.k_proj.weight', t([12, 8]));
  ck.set('model.embed_tokens.weight', t([8, 11]));
  rejects(
    () => weightsFromHfTensors(base, ck),
    /model\.embed_tokens\.weight: expected \[11, 8\], got \[8, 11\].*model\.layers\.1\.self_attn\.k_proj\.weight: expected \[6, 8\], got \[12, 8\]/,
  );
  const bad = checkpoint(base);
  bad.set('model.norm.weight', { shape: [8], data: new Float32Array(7) });
  rejects(() => weightsFromHfTensors(base, bad), /model\.norm\.weight: shape \[8\] needs 8 values, data has 7/);
});

test('rejects unknown tensors (listing at most 10), ignores rotary inv_freq buffers', () => {
  const ck = checkpoint(base);
  ck.set('model.layers.0.self_attn.rotary_emb.inv_freq', t([6]));
  assert.ok(weightsFromHfTensors(base, ck));
  for (let i = 0; i < 12; i++) ck.set(`transformer.h.${i}.attn.c_attn.weight`, t([1]));
  rejects(
    () => weightsFromHfTensors(base, ck),
    /12 unexpected tensor\(s\): transformer\.h\.0\.attn\.c_attn\.weight, .*transformer\.h\.9\.attn\.c_attn\.weight \(and 2 more\)\. It does not look like a supported LlamaForCausalLM checkpoint/,
  );
  // Bias tensors the config does not expect are unknown too.
  rejects(() => weightsFromHfTensors(base, checkpoint(llamaBiased)), /unexpected tensor\(s\): model\.layers\.0\.self_attn\.q_proj\.bias/);
});

test('partial layers: only those are required and loaded', () => {
  const ck = checkpoint(base);
  const partial = new Map([...ck].filter(([n]) => !n.startsWith('model.layers.0.') && !n.startsWith('model.layers.2.')));
  const w = weightsFromHfTensors(base, partial, { layers: [1] });
  assert.equal(w.layers.length, 3);
  assert.equal(w.layers[0], undefined);
  assert.equal(w.layers[2], undefined);
  assert.equal(w.layers[1]!.qProj.data, ck.get('model.layers.1.self_attn.q_proj.weight')!.data);
  // Tensors of other layers may be present; they are skipped.
  assert.equal(weightsFromHfTensors(base, ck, { layers: [2] }).layers[1], undefined);
  rejects(() => weightsFromHfTensors(base, partial, { layers: [0, 1] }), /missing 9 tensor\(s\).*model\.layers\.0\./);
  rejects(() => weightsFromHfTensors(base, ck, { layers: [3] }), /layer index 3 is out of range: the model has layers 0\.\.2/);
});

test('hfTensorNamesForLayers lists what a submodel needs', () => {
  const names = hfTensorNamesForLayers(base, [2]);
  assert.equal(names.length, 9 + 3);
  assert.deepEqual([names[0], names.at(-2), names.at(-1)], ['model.embed_tokens.weight', 'model.norm.weight', 'lm_head.weight']);
  assert.ok(names.includes('model.layers.2.mlp.down_proj.weight'));
  assert.ok(!names.some((n) => n.startsWith('model.layers.0.')));
  assert.ok(!hfTensorNamesForLayers(qwen, []).includes('lm_head.weight'));
  assert.equal(hfTensorNamesForLayers(qwen, [0]).length, 12 + 2);
  assert.deepEqual(new Set(hfTensorNamesForLayers(llamaBiased, [0, 1, 2])), new Set(checkpoint(llamaBiased).keys()));
});

test('weightsToHfTensors inverts weightsFromHfTensors (tied omits lm_head, partial skips layers)', () => {
  for (const cfg of [base, qwen, llamaBiased]) {
    const ck = checkpoint(cfg);
    assert.deepEqual(weightsToHfTensors(cfg, weightsFromHfTensors(cfg, ck)), ck);
  }
  const partial = weightsToHfTensors(base, weightsFromHfTensors(base, checkpoint(base), { layers: [0] }));
  assert.ok(!partial.has('model.layers.1.input_layernorm.weight'));
  assert.ok(partial.has('model.layers.0.input_layernorm.weight'));
  const w = weightsFromHfTensors(base, checkpoint(base));
  delete w.layers[0]!.qBias;
  rejects(() => weightsToHfTensors(llamaBiased, w), /layer 0 has no qBias/);
});

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'fedllm-modeldir-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function rejectsDir(p: Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ModelDirError, `expected ModelDirError, got ${String(e)}`);
    assert.match(e.message, message);
    return true;
  });
}

test('modelDir: save/load roundtrip with tokenizer files, F32 exact', async () => {
  await withTempDir(async (dir) => {
    const cfg: ModelConfig = { ...base, bosTokenId: 1, eosTokenId: 2 };
    const weights = weightsFromHfTensors(cfg, checkpoint(cfg));
    const tokenizerJson = { model: { type: 'BPE', vocab: { a: 0 } } };
    const tokenizerConfig = { bos_token: '<s>' };
    await saveModelDir(join(dir, 'm'), cfg, weights, { tokenizerJson, tokenizerConfig });
    const loaded = await loadModelDir(join(dir, 'm'));
    assert.deepEqual(loaded, { config: cfg, weights, tokenizerJson, tokenizerConfig });
    const hf = JSON.parse(await readFile(join(dir, 'm', 'config.json'), 'utf8'));
    assert.equal(hf.torch_dtype, 'float32');
    assert.equal(hf.architectures[0], 'LlamaForCausalLM');
    const partial = await loadModelDir(join(dir, 'm'), { layers: [0, 2] });
    assert.equal(partial.weights.layers[1], undefined);
    assert.deepEqual(partial.weights.layers[2], weights.layers[2]);
  });
});

test('modelDir: BF16 storage, tied embeddings, no tokenizer', async () => {
  await withTempDir(async (dir) => {
    const weights = weightsFromHfTensors(qwen, checkpoint(qwen));
    await saveModelDir(dir, qwen, weights, { dtype: 'BF16' });
    const loaded = await loadModelDir(dir);
    assert.equal(loaded.tokenizerJson, undefined);
    assert.ok(!('tokenizerConfig' in loaded));
    assert.deepEqual(loaded.config, qwen);
    assert.equal(loaded.weights.lmHead, loaded.weights.embed);
    const round = (x: Float32Array) => Float32Array.from(x, (v) => bf16BitsToF32(f32ToBf16Bits(v)));
    assert.deepEqual(loaded.weights.layers[1]!.downProj.data, round(weights.layers[1]!.downProj.data));
    assert.equal(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')).torch_dtype, 'bfloat16');
  });
});

test('modelDir: sharded checkpoint via model.safetensors.index.json', async () => {
  await withTempDir(async (dir) => {
    const ck = checkpoint(base);
    const names = [...ck.keys()];
    const shards = [names.slice(0, 10), names.slice(10)];
    const weightMap: Record<string, string> = {};
    for (const [i, shard] of shards.entries()) {
      const file = `model-0000${i + 1}-of-00002.safetensors`;
      await writeFile(join(dir, file), serializeSafetensors(new Map(shard.map((n) => [n, ck.get(n)!])), { format: 'pt' }));
      for (const n of shard) weightMap[n] = file;
    }
    await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    await writeFile(join(dir, 'config.json'), JSON.stringify(toHfConfig(base)));
    const loaded = await loadModelDir(dir);
    assert.deepEqual(loaded.weights, weightsFromHfTensors(base, ck));

    weightMap['model.norm.weight'] = '../escape.safetensors';
    await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: weightMap }));
    await rejectsDir(loadModelDir(dir), /must be a file name inside the directory/);
    weightMap['model.norm.weight'] = 'model-00003-of-00002.safetensors';
    await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: weightMap }));
    await rejectsDir(loadModelDir(dir), /shard .*model-00003-of-00002\.safetensors listed in .* does not exist/);
  });
});

test('modelDir: clear errors for a missing directory or files', async () => {
  await withTempDir(async (dir) => {
    await rejectsDir(loadModelDir(join(dir, 'nope')), /model directory .*nope does not exist/);
    await writeFile(join(dir, 'file'), 'x');
    await rejectsDir(loadModelDir(join(dir, 'file')), /is not a directory/);
    await rejectsDir(loadModelDir(dir), /has no config\.json/);
    await writeFile(join(dir, 'config.json'), '{"broken"');
    await rejectsDir(loadModelDir(dir), /config\.json is not valid JSON/);
    await writeFile(join(dir, 'config.json'), JSON.stringify(toHfConfig(base)));
    await rejectsDir(loadModelDir(dir), /has none of model\.safetensors, model\.safetensors\.index\.json, model\.gguf$/);
    await writeFile(join(dir, 'pytorch_model.bin'), 'x');
    await rejectsDir(loadModelDir(dir), /PyTorch \.bin checkpoints are not supported/);
  });
});
