import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HfConfigError, parseHfConfig, toHfConfig } from '../src/model/hfConfig';
import type { ModelConfig } from '../src/model/modelConfig';

// Trimmed real-world config.json files.
const llama32 = {
  architectures: ['LlamaForCausalLM'],
  attention_bias: false,
  bos_token_id: 128000,
  eos_token_id: [128001, 128008, 128009],
  head_dim: 64,
  hidden_act: 'silu',
  hidden_size: 2048,
  intermediate_size: 8192,
  max_position_embeddings: 131072,
  mlp_bias: false,
  model_type: 'llama',
  num_attention_heads: 32,
  num_hidden_layers: 16,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-5,
  rope_scaling: { factor: 32.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 8192, rope_type: 'llama3' },
  rope_theta: 500000.0,
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
  vocab_size: 128256,
};

const mistral = {
  architectures: ['MistralForCausalLM'],
  bos_token_id: 1,
  eos_token_id: 2,
  hidden_act: 'silu',
  hidden_size: 4096,
  intermediate_size: 14336,
  max_position_embeddings: 32768,
  model_type: 'mistral',
  num_attention_heads: 32,
  num_hidden_layers: 32,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-5,
  rope_theta: 10000.0,
  sliding_window: 4096,
  tie_word_embeddings: false,
  vocab_size: 32000,
};

const qwen25 = {
  architectures: ['Qwen2ForCausalLM'],
  attention_dropout: 0.0,
  bos_token_id: 151643,
  eos_token_id: 151643,
  hidden_act: 'silu',
  hidden_size: 896,
  intermediate_size: 4864,
  max_position_embeddings: 32768,
  max_window_layers: 24,
  model_type: 'qwen2',
  num_attention_heads: 14,
  num_hidden_layers: 24,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000.0,
  sliding_window: 32768,
  tie_word_embeddings: true,
  use_sliding_window: false,
  vocab_size: 151936,
};

function rejects(json: unknown, message: RegExp): void {
  assert.throws(
    () => parseHfConfig(json),
    (e: unknown) => {
      assert.ok(e instanceof HfConfigError, `expected HfConfigError, got ${String(e)}`);
      assert.match(e.message, message);
      return true;
    },
  );
}

test('parses a Llama 3.2 config (llama3 rope scaling, eos list, tied)', () => {
  assert.deepEqual(parseHfConfig(llama32), {
    architecture: 'LlamaForCausalLM',
    vocabSize: 128256,
    hiddenSize: 2048,
    intermediateSize: 8192,
    numLayers: 16,
    numHeads: 32,
    numKvHeads: 8,
    headDim: 64,
    maxPositionEmbeddings: 131072,
    ropeTheta: 500000,
    rmsNormEps: 1e-5,
    tieWordEmbeddings: true,
    attentionBias: false,
    oProjBias: false,
    mlpBias: false,
    bosTokenId: 128000,
    eosTokenId: 128001,
    ropeScaling: { type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 },
  } satisfies ModelConfig);
});

test('parses Mistral with and without a sliding window', () => {
  const cfg = parseHfConfig(mistral);
  assert.equal(cfg.architecture, 'MistralForCausalLM');
  assert.equal(cfg.slidingWindow, 4096);
  assert.equal(cfg.headDim, 128);
  assert.equal(cfg.tieWordEmbeddings, false);
  assert.deepEqual([cfg.attentionBias, cfg.oProjBias, cfg.mlpBias], [false, false, false]);
  assert.equal(parseHfConfig({ ...mistral, sliding_window: null, head_dim: null }).slidingWindow, undefined);
  // Mistral has no biases even if a stray attention_bias key is present.
  assert.equal(parseHfConfig({ ...mistral, attention_bias: true }).attentionBias, false);
});

test('parses Qwen2: q/k/v bias, no o_proj bias, sliding window only when enabled', () => {
  const cfg = parseHfConfig(qwen25);
  assert.equal(cfg.architecture, 'Qwen2ForCausalLM');
  assert.deepEqual([cfg.attentionBias, cfg.oProjBias, cfg.mlpBias], [true, false, false]);
  assert.equal(cfg.headDim, 64);
  assert.equal(cfg.tieWordEmbeddings, true);
  assert.equal(cfg.slidingWindow, undefined);
  assert.equal(parseHfConfig({ ...qwen25, use_sliding_window: true, max_window_layers: 0, sliding_window: 1024 }).slidingWindow, 1024);
  assert.equal(parseHfConfig({ ...qwen25, use_sliding_window: true, max_window_layers: 24 }).slidingWindow, undefined);
  rejects({ ...qwen25, use_sliding_window: true, max_window_layers: 12 }, /max_window_layers=12 mixes full and sliding-window layers/);
});

test('Llama attention_bias covers q/k/v/o; mlp_bias; linear rope scaling via "type"', () => {
  const cfg = parseHfConfig({ ...llama32, attention_bias: true, mlp_bias: true, rope_scaling: { type: 'linear', factor: 2 } });
  assert.deepEqual([cfg.attentionBias, cfg.oProjBias, cfg.mlpBias], [true, true, true]);
  assert.deepEqual(cfg.ropeScaling, { type: 'linear', factor: 2 });
  assert.equal(parseHfConfig({ ...llama32, rope_scaling: null }).ropeScaling, undefined);
  assert.equal(parseHfConfig({ ...llama32, rope_scaling: { rope_type: 'default' } }).ropeScaling, undefined);
});

test('applies transformers defaults and falls back to model_type', () => {
  const minimal = {
    model_type: 'llama',
    vocab_size: 100,
    hidden_size: 64,
    intermediate_size: 128,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    max_position_embeddings: 256,
  };
  assert.deepEqual(parseHfConfig(minimal), {
    architecture: 'LlamaForCausalLM',
    vocabSize: 100,
    hiddenSize: 64,
    intermediateSize: 128,
    numLayers: 2,
    numHeads: 4,
    numKvHeads: 4,
    headDim: 16,
    maxPositionEmbeddings: 256,
    ropeTheta: 10000,
    rmsNormEps: 1e-6,
    tieWordEmbeddings: false,
    attentionBias: false,
    oProjBias: false,
    mlpBias: false,
  });
  assert.equal(parseHfConfig({ ...minimal, model_type: 'mistral' }).architecture, 'MistralForCausalLM');
  assert.equal(parseHfConfig({ ...minimal, model_type: 'qwen2', architectures: [] }).architecture, 'Qwen2ForCausalLM');
  // transformers 5 layout: rope_theta inside rope_parameters.
  assert.equal(parseHfConfig({ ...minimal, rope_parameters: { rope_type: 'default', rope_theta: 5e5 } }).ropeTheta, 5e5);
});

test('rejects unsupported or malformed configs, naming the problem', () => {
  rejects({ ...llama32, architectures: ['GPT2LMHeadModel'] }, /unsupported architecture "GPT2LMHeadModel"; supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM/);
  rejects({ ...llama32, architectures: undefined, model_type: 'gpt2' }, /model_type "gpt2" is not one of llama, mistral, qwen2/);
  rejects({ ...llama32, hidden_size: undefined }, /missing required field "hidden_size"/);
  rejects({ ...llama32, num_hidden_layers: null }, /missing required field "num_hidden_layers"/);
  rejects({ ...llama32, vocab_size: '128256' }, /"vocab_size" must be a positive integer, got "128256"/);
  rejects({ ...llama32, intermediate_size: 0 }, /"intermediate_size" must be a positive integer/);
  rejects({ ...llama32, rms_norm_eps: -1 }, /"rms_norm_eps" must be a positive number/);
  rejects({ ...llama32, tie_word_embeddings: 'yes' }, /"tie_word_embeddings" must be true or false/);
  rejects({ ...llama32, hidden_act: 'gelu' }, /unsupported hidden_act "gelu"; only "silu" is supported/);
  rejects({ ...llama32, rope_scaling: { rope_type: 'yarn', factor: 4 } }, /unsupported rope_scaling type "yarn"; supported: 'linear', 'llama3'/);
  rejects({ ...llama32, rope_scaling: { rope_type: 'llama3', factor: 8 } }, /missing required field "low_freq_factor"/);
  rejects({ ...llama32, num_key_value_heads: 5 }, /num_attention_heads \(32\) must be a multiple of num_key_value_heads \(5\)/);
  rejects({ ...llama32, head_dim: undefined, hidden_size: 2050 }, /hidden_size \(2050\) is not divisible by num_attention_heads \(32\)/);
  rejects({ ...llama32, eos_token_id: -1 }, /"eos_token_id" must be a non-negative integer/);
  rejects([llama32], /expected a JSON object, got an array/);
  rejects(null, /expected a JSON object/);
});

test('toHfConfig roundtrips through parseHfConfig and writes what transformers expects', () => {
  const configs = [
    llama32,
    { ...llama32, attention_bias: true, mlp_bias: true, rope_scaling: { type: 'linear', factor: 2 }, eos_token_id: 7, bos_token_id: null },
    mistral,
    { ...mistral, sliding_window: null },
    qwen25,
    { ...qwen25, use_sliding_window: true, max_window_layers: 0, sliding_window: 512 },
  ].map(parseHfConfig);
  for (const cfg of configs) {
    const hf = toHfConfig(cfg);
    assert.deepEqual(parseHfConfig(JSON.parse(JSON.stringify(hf))), cfg);
    assert.equal(hf.torch_dtype, 'float32');
    assert.equal(hf.hidden_act, 'silu');
    assert.deepEqual(hf.architectures, [cfg.architecture]);
  }
  const llama = toHfConfig(configs[0]);
  assert.equal(llama.model_type, 'llama');
  assert.deepEqual(llama.rope_scaling, { rope_type: 'llama3', factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 });
  assert.equal(toHfConfig(configs[4]).model_type, 'qwen2');
  assert.equal(toHfConfig(configs[4]).use_sliding_window, false);
});

test('toHfConfig rejects configs the architecture cannot express', () => {
  const llama = parseHfConfig(llama32);
  const bad = (cfg: ModelConfig, re: RegExp) => assert.throws(() => toHfConfig(cfg), (e: unknown) => e instanceof HfConfigError && re.test(e.message));
  bad({ ...llama, attentionBias: true }, /q\/k\/v bias without matching o_proj bias for LlamaForCausalLM/);
  bad({ ...llama, slidingWindow: 10 }, /sliding window for LlamaForCausalLM/);
  bad({ ...llama, architecture: 'MistralForCausalLM', mlpBias: true }, /MLP biases for MistralForCausalLM/);
  bad({ ...llama, architecture: 'Qwen2ForCausalLM' }, /Qwen2ForCausalLM/);
  bad({ ...llama, architecture: 'GPTNeoX' as never }, /unsupported architecture "GPTNeoX"/);
});
