import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  dequantizeMatrix, fakeQuantizeWeights, hfProjectionName, quantizedWeightsFromHfTensors, INT4_GROUP_SIZE, quantizedLayout, quantizedMatrixBytes, quantizeMatrix, quantizeWeights,
  PROJECTION_WEIGHTS, type WeightFormat,
} from '../src/model/weightQuantization';
import { initLlamaWeights } from '../src/engine/initWeights';
import { weightsToHfTensors } from '../src/model/hfWeights';
import type { QuantizedMatrix } from '../src/model/weightQuantization';
import { rngFrom, tinyConfig } from './fixtures/tinyModel';

function randomMatrix(rows: number, cols: number, seed: number): Float32Array {
  const rng = rngFrom(seed);
  // Mostly small values with a few outliers, as real weights have.
  return Float32Array.from({ length: rows * cols }, () => (rng.next() * 2 - 1) * (rng.next() < 0.05 ? 3 : 0.2));
}

for (const format of ['int8', 'int4'] as const) {
  test(`${format}: every element round-trips within half a step of its scale; zero rows get scale 1`, () => {
    for (const [rows, cols] of [[1, 1], [5, 7], [13, 33], [9, 70], [4, 64], [3, 95]]) {
      const w = randomMatrix(rows, cols, rows * 100 + cols);
      w.fill(0, 0, cols); // row 0 all zero
      const q = quantizeMatrix(w, rows, cols, format);
      const l = quantizedLayout(rows, cols, format);
      assert.equal(q.words.length, l.words);
      assert.equal(q.scales.length, l.scales);
      const d = dequantizeMatrix(q);
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) {
          const scale = q.scales[r * l.groupsPerRow + Math.floor(c / q.groupSize)];
          const err = Math.abs(w[r * cols + c] - d[r * cols + c]);
          // Half a quantization step, plus float32 rounding of q·scale.
          assert.ok(err <= scale / 2 + 1e-6 * Math.abs(w[r * cols + c]), `${format} ${rows}x${cols} [${r},${c}]: err ${err}, scale ${scale}`);
        }
      }
      for (let g = 0; g < l.groupsPerRow; g++) assert.equal(q.scales[g], 1, 'an all-zero row or group has scale 1');
      for (let c = 0; c < cols; c++) assert.equal(d[c], 0);
    }
  });

  test(`${format}: quantization is symmetric and each group's scale is its absmax / qmax`, () => {
    const w = randomMatrix(6, 45, 7);
    const neg = w.map((x) => -x);
    const a = dequantizeMatrix(quantizeMatrix(w, 6, 45, format)), b = dequantizeMatrix(quantizeMatrix(neg, 6, 45, format));
    for (let i = 0; i < a.length; i++) assert.equal(a[i], -b[i] + 0); // +0: -0 equals 0
    const q = quantizeMatrix(w, 6, 45, format);
    const qmax = format === 'int8' ? 127 : 7, gs = q.groupSize, groups = Math.ceil(45 / gs);
    for (let r = 0; r < 6; r++) {
      for (let g = 0; g < groups; g++) {
        const span = w.subarray(r * 45 + g * gs, r * 45 + Math.min(45, (g + 1) * gs));
        const absmax = Math.max(...Array.from(span, Math.abs));
        assert.equal(q.scales[r * groups + g], Math.fround(absmax / qmax));
      }
    }
  });
}

test('int8 packing: 4 bytes per word little-endian, two\'s complement, rows padded with zero bytes', () => {
  // One row of 5 columns: absmax 127 gives scale 1, so q = w exactly.
  const q = quantizeMatrix(Float32Array.from([127, -1, 2, -126, -127, 0, 5, -6, 7, 8]), 2, 5, 'int8');
  assert.equal(q.groupSize, 5);
  assert.deepEqual(Array.from(q.scales), [1, 8 / 127].map(Math.fround));
  // Row 0: 127, -1, 2, -126, -127 | padding.
  assert.equal(q.words[0], (0x7f | (0xff << 8) | (0x02 << 16) | (0x82 << 24)) >>> 0);
  assert.equal(q.words[1], 0x81);
  // Row 1: 0, 5, -6, 7, 8 over scale 8/127 -> 0, 79 (79.375), -95 (-95.25), 111 (111.125), 127.
  assert.equal(q.words[2], (0 | (79 << 8) | ((-95 & 0xff) << 16) | (111 << 24)) >>> 0);
  assert.equal(q.words[3], 127);
  assert.deepEqual(Array.from(dequantizeMatrix(q).subarray(0, 5)), [127, -1, 2, -126, -127]);
});

test('int4 packing: 8 nibbles of q+8 per word, groups of 32 columns, padding nibbles 8', () => {
  // 2 rows x 35 columns: groups [0,32) and a partial [32,35); 5 words per row (35 = 4·8 + 3).
  const cols = 35, w = new Float32Array(2 * cols);
  const row0 = [7, -7, 0, 1, -1, 3, -3, 6, 2, -2]; // group 0 absmax 7 -> scale 1
  w.set(row0, 0);
  w.set([1.25, -3.5, -1.25], 32); // partial group: absmax 3.5 -> scale 0.5
  // Row 1 is all zero: scales 1, every nibble 8.
  const q = quantizeMatrix(w, 2, cols, 'int4');
  assert.equal(INT4_GROUP_SIZE, 32);
  assert.equal(q.groupSize, 32);
  assert.deepEqual(Array.from(q.scales), [1, 0.5, 1, 1]);
  assert.equal(q.words.length, 10);
  const nib = (vals: number[]) => vals.reduce((acc, v, i) => acc | ((v + 8) << (4 * i)), 0) >>> 0;
  assert.equal(q.words[0], nib([7, -7, 0, 1, -1, 3, -3, 6]));
  assert.equal(q.words[1], nib([2, -2, 0, 0, 0, 0, 0, 0]));
  assert.equal(q.words[2], 0x88888888);
  assert.equal(q.words[3], 0x88888888);
  // 1.25 / 0.5 = 2.5 -> 3 and -2.5 -> -3 (half away from zero), -7; then 5 padding nibbles of 8.
  assert.equal(q.words[4], nib([3, -7, -3, 0, 0, 0, 0, 0]));
  for (let i = 5; i < 10; i++) assert.equal(q.words[i], 0x88888888);
  const d = dequantizeMatrix(q);
  assert.deepEqual(Array.from(d.subarray(0, 10)), row0);
  assert.deepEqual(Array.from(d.subarray(32, 35)), [1.5, -3.5, -1.5]);
});

test('bytes: quantizedMatrixBytes is the packed arrays\' size, for odd shapes and every format', () => {
  for (const format of ['f32', 'int8', 'int4'] as WeightFormat[]) {
    for (const [rows, cols] of [[1, 1], [3, 7], [45, 70], [16, 64], [2, 33]]) {
      const q = quantizeMatrix(randomMatrix(rows, cols, 3), rows, cols, format);
      assert.equal(quantizedMatrixBytes(rows, cols, format), q.words.byteLength + q.scales.byteLength, `${format} ${rows}x${cols}`);
    }
  }
  assert.equal(quantizedMatrixBytes(45, 70, 'f32'), 45 * 70 * 4);
  assert.equal(quantizedMatrixBytes(45, 70, 'int8'), 45 * 18 * 4 + 45 * 4);
  assert.equal(quantizedMatrixBytes(45, 70, 'int4'), 45 * 9 * 4 + 45 * 3 * 4);
  // f32 round-trips exactly.
  const w = randomMatrix(3, 7, 9);
  assert.deepEqual(dequantizeMatrix(quantizeMatrix(w, 3, 7, 'f32')), w);
});

test('fakeQuantizeWeights replaces exactly the seven projections of present layers', () => {
  const cfg = tinyConfig({ attentionBias: true });
  const w = initLlamaWeights(cfg, rngFrom(4), 0.2);
  w.layers[1] = undefined;
  for (const format of ['int8', 'int4'] as const) {
    const f = fakeQuantizeWeights(cfg, w, format);
    assert.equal(f.embed, w.embed);
    assert.equal(f.finalNorm, w.finalNorm);
    assert.equal(f.layers[1], undefined);
    const q = quantizeWeights(cfg, w, format);
    for (const i of [0, 2]) {
      const a = w.layers[i]!, b = f.layers[i]!;
      assert.equal(b.inputNorm, a.inputNorm);
      assert.equal(b.qBias, a.qBias);
      for (const name of PROJECTION_WEIGHTS) {
        assert.deepEqual(b[name].shape, a[name].shape);
        assert.deepEqual(b[name].data, dequantizeMatrix(q.layers[i]![name]));
        assert.notDeepEqual(b[name].data, a[name].data, `${format} ${name} changed`);
      }
    }
  }
  assert.throws(() => quantizeMatrix(Float32Array.from([1, Number.NaN]), 1, 2, 'int8'), /not finite/);
  assert.throws(() => quantizeMatrix(new Float32Array(5), 2, 3, 'int4'), /5 values/);
});

test('quantizedWeightsFromHfTensors: packed projections by HF name plus float tensors give quantizeWeights\' result for the plan', () => {
  const cfg = tinyConfig({ numLayers: 3, mlpBias: true });
  const w = initLlamaWeights(cfg, rngFrom(5), 0.2);
  const plan = { layers: [{ index: 0, attention: true, mlp: true }, { index: 2, attention: false, mlp: true }] };
  const expected = quantizeWeights(cfg, w, 'int4');
  const all = weightsToHfTensors(cfg, w);
  // What a tab receives: packed projections of the kept blocks, except layer 2's up_proj which comes as floats.
  const packed = new Map<string, QuantizedMatrix>();
  const floats = new Map(all);
  for (const [i, names] of [[0, PROJECTION_WEIGHTS], [2, ['gateProj', 'downProj']]] as const) {
    for (const n of names) {
      packed.set(hfProjectionName(i, n), expected.layers[i]![n]);
      floats.delete(hfProjectionName(i, n));
    }
  }
  for (const n of ['qProj', 'kProj', 'vProj', 'oProj'] as const) floats.delete(hfProjectionName(2, n)); // skipped block: not sent
  const got = quantizedWeightsFromHfTensors(cfg, floats, packed, 'int4', plan);
  assert.equal(got.format, 'int4');
  assert.equal(got.layers[1], undefined);
  for (const n of PROJECTION_WEIGHTS) assert.equal(got.layers[0]![n], expected.layers[0]![n], `layer 0 ${n} is the packed object`);
  assert.deepEqual(got.layers[2]!.upProj, expected.layers[2]!.upProj, 'a float projection is quantized on arrival');
  assert.equal(got.layers[2]!.qProj, undefined);
  assert.deepEqual(got.layers[2]!.downBias, w.layers[2]!.downBias);
  assert.throws(() => quantizedWeightsFromHfTensors(cfg, floats, packed, 'int8', plan), /packed as int4, not int8/);
  assert.throws(() => quantizedWeightsFromHfTensors(cfg, all, packed, 'int4', plan), /both packed and as a float tensor/);
  const extra = new Map(packed).set(hfProjectionName(2, 'qProj'), expected.layers[2]!.qProj);
  assert.throws(() => quantizedWeightsFromHfTensors(cfg, floats, extra, 'int4', plan), /not a projection the plan keeps/);
  const missing = new Map(floats);
  missing.delete(hfProjectionName(2, 'upProj'));
  assert.throws(() => quantizedWeightsFromHfTensors(cfg, missing, packed, 'int4', plan), /missing 1 tensor/);
});

test('q4_1: affine groups of 32 (d = range / 15, m = min), raw nibbles in int4 order, whole groups only', () => {
  const rows = 5, cols = 96;
  const w = randomMatrix(rows, cols, 41);
  w.fill(0.25, 0, 32); // a constant group: d = 0, every value exactly m
  const q = quantizeMatrix(w, rows, cols, 'q4_1');
  const l = quantizedLayout(rows, cols, 'q4_1');
  assert.deepEqual([q.words.length, q.scales.length, l.groupsPerRow], [rows * 12, rows * 3 * 2, 3]);
  assert.equal(quantizedMatrixBytes(rows, cols, 'q4_1'), rows * 3 * 24);
  const d = dequantizeMatrix(q);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < 3; g++) {
      const span = Array.from(w.subarray(r * cols + g * 32, r * cols + g * 32 + 32));
      const [min, max] = [Math.min(...span), Math.max(...span)];
      const at = 2 * (r * 3 + g);
      assert.equal(q.scales[at], Math.fround((max - min) / 15));
      assert.equal(q.scales[at + 1], min);
      for (let c = 0; c < 32; c++) {
        const i = r * cols + g * 32 + c;
        const nibble = (q.words[r * 12 + g * 4 + (c >> 3)] >>> (4 * (c & 7))) & 15;
        assert.equal(d[i], Math.fround(q.scales[at] * nibble + q.scales[at + 1]));
        assert.ok(Math.abs(d[i] - w[i]) <= q.scales[at] / 2 + 1e-6, `[${r},${g * 32 + c}]`);
      }
    }
  }
  assert.deepEqual(Array.from(d.subarray(0, 32)), Array(32).fill(0.25));
  assert.throws(() => quantizedLayout(4, 70, 'q4_1'), /whole groups of 32 columns, got 70/);
});

test('q8_0: int8 in groups of 32 columns (GGUF\'s Q8_0), one scale per group, whole groups only', () => {
  const rows = 3, cols = 64;
  const w = randomMatrix(rows, cols, 43);
  w[5] = 9; // an outlier flattens only its own group
  const q = quantizeMatrix(w, rows, cols, 'q8_0');
  assert.deepEqual([q.words.length, q.scales.length, q.groupSize], [rows * 16, rows * 2, 32]);
  assert.equal(quantizedMatrixBytes(rows, cols, 'q8_0'), rows * 2 * (32 + 4));
  assert.equal(q.scales[0], Math.fround(9 / 127));
  assert.ok(q.scales[1] < q.scales[0] / 4, 'the second group keeps its own, finer scale');
  const d = dequantizeMatrix(q);
  for (let i = 0; i < w.length; i++) {
    const s = q.scales[Math.floor(i / 32)];
    const byte = (q.words[i >> 2] << (24 - 8 * (i & 3))) >> 24;
    assert.equal(d[i], Math.fround(byte * s));
    assert.ok(Math.abs(d[i] - w[i]) <= s / 2 + 1e-7, `${i}`);
  }
  assert.throws(() => quantizedLayout(2, 40, 'q8_0'), /q8_0 matrices need whole groups of 32 columns, got 40/);
});

test('packed vocabulary tables: quantizeWeights packs embed (and an untied head); quantizedWeightsFromHfTensors takes them packed and checks them', () => {
  const cfg = tinyConfig({ numLayers: 2, hiddenSize: 32, intermediateSize: 64, numHeads: 4, numKvHeads: 2, headDim: 8, tieWordEmbeddings: false });
  const w = initLlamaWeights(cfg, rngFrom(7), 0.2);
  const plan = { layers: [{ index: 1, attention: true, mlp: true }] };
  const q = quantizeWeights(cfg, w, 'q4_1', 'q8_0');
  assert.ok('words' in q.embed && 'words' in q.lmHead && q.embed.format === 'q8_0');
  const fake = fakeQuantizeWeights(cfg, w, 'q4_1', 'q8_0');
  assert.deepEqual(fake.embed.data, dequantizeMatrix(q.embed as QuantizedMatrix));
  assert.notDeepEqual(fake.embed.data, w.embed.data);
  const tied = quantizeWeights({ ...cfg, tieWordEmbeddings: true }, { ...w, lmHead: w.embed }, 'int4', 'q8_0');
  assert.equal(tied.lmHead, tied.embed, 'a tied head stays the embedding object');
  const floats = weightsToHfTensors(cfg, w);
  const packed = new Map<string, QuantizedMatrix>([['model.embed_tokens.weight', q.embed as QuantizedMatrix], ['lm_head.weight', q.lmHead as QuantizedMatrix]]);
  for (const n of packed.keys()) floats.delete(n);
  const got = quantizedWeightsFromHfTensors(cfg, floats, packed, 'q4_1', plan);
  assert.equal(got.embed, q.embed);
  assert.equal(got.lmHead, q.lmHead);
  assert.deepEqual(got.layers[1]!.qProj, q.layers[1]!.qProj, 'projections sent as floats are quantized on arrival');
  const headOnly = new Map(packed);
  headOnly.delete('model.embed_tokens.weight');
  assert.throws(() => quantizedWeightsFromHfTensors(cfg, new Map([...floats, ['model.embed_tokens.weight', w.embed]]), headOnly, 'q4_1', plan), /the vocabulary tables share one format/);
  const mixed = new Map(packed).set('lm_head.weight', quantizeMatrix(w.lmHead.data, cfg.vocabSize, cfg.hiddenSize, 'int8'));
  assert.throws(() => quantizedWeightsFromHfTensors(cfg, floats, mixed, 'q4_1', plan), /packed in different formats/);
  const wrongShape = new Map(packed).set('lm_head.weight', quantizeMatrix(w.lmHead.data, cfg.hiddenSize, cfg.vocabSize, 'int8'));
  assert.throws(() => quantizedWeightsFromHfTensors(cfg, floats, wrongShape, 'q4_1', plan), /lm_head\.weight is \d+ x \d+, the config needs/);
});
