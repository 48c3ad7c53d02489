// GGUF import against llama.cpp's own Python package (PyPI `gguf`): tiny random llama models are
// written by its GGUFWriter (tensors quantized by its quantizers, Q/K permuted as
// convert_hf_to_gguf.py does) and run by tools/reference/gguf_oracle.py (its dequantizers + the
// float64 numpy forward pass); the project imports the same file and must give the same logits.
// The oracle's Python packages are required: a missing one fails these tests (see .ci/run).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dequantizeGgml, dequantizeWeights, GGML_TYPE, GgufError, ggufQuantizedWeights, LlamaModel, PROJECTION_WEIGHTS, unpermuteRotaryRows } from '../src/index';
import { importGgufFiles, loadModelDir, loadTokenizerDir, readGgufFile } from '../src/node/index';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const oracle = join(repoRoot, 'tools', 'reference', 'gguf_oracle.py');
const work = mkdtempSync(join(tmpdir(), 'gguf-import-'));
after(() => rmSync(work, { recursive: true, force: true }));

function python(args: string[]): string {
  const r = spawnSync('python3', [oracle, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, `python3 gguf_oracle.py ${args[0]} failed (pip install -r tools/reference/requirements.txt):\n${r.stderr}`);
  return r.stdout;
}

function makeGguf(name: string, args: string[]): string {
  const path = join(work, name);
  python(['make-gguf', '--out', path, ...args]);
  return path;
}

function oracleLogits(gguf: string, prompts: number[][]): Float32Array {
  const promptsPath = join(work, 'prompts.json'), out = join(work, 'logits.f32');
  writeFileSync(promptsPath, JSON.stringify(prompts));
  python(['logits', '--gguf', gguf, '--prompts', promptsPath, '--out', out]);
  const b = readFileSync(out);
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
}

const PROMPT = [0, 5, 77, 200, 256, 3, 9, 261, 40];

for (const types of ['Q4_1,Q8_0,F32', 'Q4_0,F16,F16', 'Q8_0,BF16,F32']) {
  test(`a GGUF of ${types} (projections, embedding, norms) gives the oracle's logits`, async () => {
    const path = makeGguf(`tiny-${types.replace(/,/g, '-')}.gguf`, ['--types', types, '--seed', '7']);
    const want = oracleLogits(path, [PROMPT]);
    const { config, weights } = await loadModelDir(path);
    assert.equal(config.numLayers, 2);
    assert.equal(config.numKvHeads, 2);
    assert.equal(config.tieWordEmbeddings, true);
    const T = PROMPT.length;
    const got = new LlamaModel(config, weights).logits({ B: 1, T, inputIds: Int32Array.from(PROMPT), targets: new Int32Array(T).fill(-1) });
    assert.equal(got.length, want.length);
    let maxDiff = 0, maxAbs = 0;
    for (let i = 0; i < got.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(got[i] - want[i]));
      maxAbs = Math.max(maxAbs, Math.abs(want[i]));
    }
    // float32 engine vs float64 oracle on identical dequantized weights: rounding only (measured 2-4e-6).
    assert.ok(maxDiff < 1e-4, `max |logit difference| ${maxDiff} (logits up to ${maxAbs})`);
    assert.ok(maxAbs > 1, 'logits are not trivially small');
  });
}

test('the tokenizer built from a GGUF encodes as the oracle tokenizer does', async () => {
  const path = makeGguf('tok.gguf', []);
  const strings = ['the then in', ' the<|endoftext|>her 123', 'ünï 日本 🎉\n\n  x', '', 'inner there'];
  const stringsPath = join(work, 'strings.json');
  writeFileSync(stringsPath, JSON.stringify(strings));
  const want = JSON.parse(python(['tokenize', '--gguf', path, '--strings', stringsPath])) as number[][];
  const tok = await loadTokenizerDir(path);
  assert.deepEqual(strings.map((s) => tok.encode(s)), want);
  assert.ok(want[0].some((id) => id > 257), 'merges are applied');
  assert.equal(tok.decode(tok.encode(strings[2])), strings[2]);
});

test('a truncated, foreign or unsupported GGUF is refused with an error naming the problem', async () => {
  const good = makeGguf('good.gguf', []);
  const bytes = readFileSync(good);
  const truncated = join(work, 'truncated.gguf');
  writeFileSync(truncated, bytes.subarray(0, bytes.length - 1000));
  await assert.rejects(loadModelDir(truncated), (e: Error) => e instanceof GgufError && /truncated/.test(e.message));

  const headerOnly = join(work, 'header-only.gguf');
  writeFileSync(headerOnly, bytes.subarray(0, 40));
  await assert.rejects(readGgufFile(headerOnly), (e: Error) => e instanceof GgufError && /not a readable GGUF|truncated/.test(e.message));

  const notGguf = join(work, 'not.gguf');
  writeFileSync(notGguf, Buffer.from('{"this": "is json"}'));
  await assert.rejects(readGgufFile(notGguf), /not a readable GGUF file: .*magic/);

  await assert.rejects(loadModelDir(makeGguf('arch.gguf', ['--corrupt', 'arch'])), /architecture "gpt2" is not supported; supported: llama/);
  await assert.rejects(loadTokenizerDir(makeGguf('spm.gguf', ['--corrupt', 'tokenizer'])), /tokenizer model "llama" is not supported/);
  await assert.rejects(loadModelDir(makeGguf('q5k.gguf', ['--corrupt', 'type'])), /blk\.1\.ffn_down\.weight.*Q5_K is not supported; supported: F32, F16, BF16, Q4_0, Q4_1, Q8_0/);
  await assert.rejects(loadModelDir(join(work, 'missing.gguf')), /does not exist/);
});

test('dequantization follows the ggml block layouts and checks byte counts', () => {
  // One Q4_1 block: d = 0.5, m = -1 (f16 0x3800, 0xBC00); byte j holds value j (low) and j + 16 (high).
  const q41 = new Uint8Array(20);
  new DataView(q41.buffer).setUint16(0, 0x3800, true);
  new DataView(q41.buffer).setUint16(2, 0xbc00, true);
  for (let j = 0; j < 16; j++) q41[4 + j] = (j & 15) | ((15 - j) << 4);
  const v = dequantizeGgml(GGML_TYPE.Q4_1, q41, 32);
  for (let j = 0; j < 16; j++) {
    assert.equal(v[j], 0.5 * j - 1);
    assert.equal(v[j + 16], 0.5 * (15 - j) - 1);
  }
  // Q8_0: d = 2, signed bytes.
  const q80 = new Uint8Array(34);
  new DataView(q80.buffer).setUint16(0, 0x4000, true);
  q80[2] = 0xff; // -1
  q80[33] = 127;
  const w = dequantizeGgml(GGML_TYPE.Q8_0, q80, 32);
  assert.equal(w[0], -2);
  assert.equal(w[31], 254);
  assert.throws(() => dequantizeGgml(GGML_TYPE.Q8_0, q80.subarray(1), 32), /needs 34 bytes, got 33/);
  assert.throws(() => dequantizeGgml(GGML_TYPE.Q4_K, new Uint8Array(144), 256), /Q4_K is not supported/);
});

test('unpermuteRotaryRows inverts the interleaving of rotary pairs per head', () => {
  // 2 heads of dim 4, 1 column: GGUF row order per head is (0, 2, 1, 3) of the HF rows.
  const hf = Float32Array.from([0, 1, 2, 3, 10, 11, 12, 13]);
  const permuted = Float32Array.from([0, 2, 1, 3, 10, 12, 11, 13]);
  assert.deepEqual(Array.from(unpermuteRotaryRows(permuted, 2, 1)), Array.from(hf));
  assert.throws(() => unpermuteRotaryRows(new Float32Array(6), 2, 1), /rotary permutation/);
});

test('Q4_1 projections and the Q8_0 embedding re-packed for the GPU (q4_1, q8_0) decode to exactly the imported floats', async () => {
  const path = makeGguf('packed.gguf', ['--types', 'Q4_1,Q8_0,F32', '--seed', '9']);
  const file = await readGgufFile(path);
  const { config } = importGgufFiles(file);
  const plan = { layers: [{ index: 1, attention: true, mlp: true }] };
  const packed = ggufQuantizedWeights(file, config, plan);
  assert.equal(packed.format, 'q4_1');
  const { weights } = await loadModelDir(path);
  const decodedAll = dequantizeWeights(packed), decoded = decodedAll.layers[1]!;
  for (const name of PROJECTION_WEIGHTS) {
    assert.equal(packed.layers[1]![name].format, 'q4_1');
    // 20 bytes per 32 values in the file; the packed matrix holds 4 words + 2 floats per 32 values: 24 bytes.
    assert.equal(packed.layers[1]![name].words.length * 4 + packed.layers[1]![name].scales.length * 4, (weights.layers[1]![name].data.length / 32) * 24);
    assert.deepEqual(decoded[name].data, weights.layers[1]![name].data, name);
  }
  assert.equal(packed.layers[0], undefined);
  // The Q8_0 embedding (tied head) stays packed too, as q8_0: 8 words + 1 scale per block of 32 (34 bytes in the file).
  assert.ok('words' in packed.embed && packed.embed.format === 'q8_0');
  assert.equal(packed.lmHead, packed.embed);
  assert.deepEqual(decodedAll.embed.data, weights.embed.data);
  const f16 = await readGgufFile(makeGguf('f16.gguf', ['--types', 'F16,F16,F32']));
  assert.throws(() => ggufQuantizedWeights(f16, config, plan), /is F16; only Q4_1 and Q8_0 stay packed/);
});
