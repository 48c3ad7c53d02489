/**
 * Writes a LoRA session's inputs into its buffers: the frozen weights of the kept layers (float32,
 * or packed words and scales, quantized here when given as floats), the vocabulary tables, the
 * final norm and the LoRA pairs. Every tensor is checked against the buffer the layout made for it.
 */
import {
  isPackedTable, projectionShape, PROJECTION_WEIGHTS, quantizedLayout, quantizeMatrix, type LoraTarget, type ProjectionWeightName,
  type QuantizedMatrix, type Tensor, type VocabTable, type WeightFormat,
} from '@fedllm/core';
import type { LoraSessionSpec } from './loraTrainingSession';

/** Where one LoRA factor lives: its buffer and its place in the flat adapter the session reads back. */
export interface LoraParamSlot {
  name: string;
  layer: number;
  target: LoraTarget;
  which: 'A' | 'B';
  floats: number;
  offset: number;
}

/** Uploads everything; returns the LoRA factors' slots in upload order. */
export function uploadSessionWeights(
  device: GPUDevice, spec: LoraSessionSpec, buffers: Map<string, GPUBuffer>, elements: Map<string, number>,
  format: WeightFormat, vocabFormat: WeightFormat,
): LoraParamSlot[] {
  const c = spec.config;
  const buf = (name: string): GPUBuffer => {
    const b = buffers.get(name);
    if (!b) throw new Error(`session: no buffer "${name}" in the layout`);
    return b;
  };
  const upload = (name: string, t: Tensor | undefined) => {
    if (!t) throw new Error(`session: weights for "${name}" are missing`);
    if (t.data.length !== elements.get(name)) {
      throw new RangeError(`session: "${name}" has ${t.data.length} values, the model config needs ${elements.get(name)}`);
    }
    device.queue.writeBuffer(buf(name), 0, t.data as Float32Array<ArrayBuffer>);
  };
  // A frozen projection: float32 as it is, or packed words + scales (quantized here if given as floats).
  const uploadProjection = (name: string, weight: ProjectionWeightName, src: Tensor | QuantizedMatrix | undefined) => {
    if (!src) throw new Error(`session: weights for "${name}" are missing`);
    const isPacked = 'words' in src;
    if (format === 'f32' && !isPacked) return upload(name, src);
    const [rows, cols] = projectionShape(c, weight);
    const q = isPacked ? src : quantizeMatrix(src.data, rows, cols, format);
    if (q.format !== format) throw new RangeError(`session: "${name}" is packed as ${q.format}, the session's weightFormat is ${format}`);
    if (q.rows !== rows || q.cols !== cols) throw new RangeError(`session: "${name}" is ${q.rows} x ${q.cols}, the model config needs ${rows} x ${cols}`);
    if (q.words.length !== elements.get(name) || (format !== 'f32' && q.scales.length !== elements.get(`${name}.scales`))) {
      throw new RangeError(`session: "${name}" has ${q.words.length} words and ${q.scales.length} scales, not the ${format} layout of ${rows} x ${cols}`);
    }
    device.queue.writeBuffer(buf(name), 0, q.words as Uint32Array<ArrayBuffer>);
    if (format !== 'f32') device.queue.writeBuffer(buf(`${name}.scales`), 0, q.scales as Float32Array<ArrayBuffer>);
  };
  // A vocabulary table: float32, or packed in the session's vocabFormat (never packed here).
  const uploadTable = (name: string, t: VocabTable) => {
    if (!isPackedTable(t)) {
      if (vocabFormat !== 'f32') throw new RangeError(`session: "${name}" is float32 but the embedding is packed as ${vocabFormat}`);
      return upload(name, t);
    }
    if (t.format !== vocabFormat) throw new RangeError(`session: "${name}" is packed as ${t.format}, the embedding as ${vocabFormat}`);
    if (t.rows !== c.vocabSize || t.cols !== c.hiddenSize) throw new RangeError(`session: "${name}" is ${t.rows} x ${t.cols}, the model config needs ${c.vocabSize} x ${c.hiddenSize}`);
    const l = quantizedLayout(t.rows, t.cols, t.format);
    if (t.words.length !== l.words || t.scales.length !== l.scales) throw new RangeError(`session: "${name}" has ${t.words.length} words and ${t.scales.length} scales, not the ${t.format} layout of ${t.rows} x ${t.cols}`);
    device.queue.writeBuffer(buf(name), 0, t.words as Uint32Array<ArrayBuffer>);
    device.queue.writeBuffer(buf(`${name}.scales`), 0, t.scales as Float32Array<ArrayBuffer>);
  };
  const projections = new Set<string>(PROJECTION_WEIGHTS);
  // Weights and LoRA.
  uploadTable('embed', spec.weights.embed);
  upload('finalNorm', spec.weights.finalNorm);
  if (!c.tieWordEmbeddings) uploadTable('lmHead', spec.weights.lmHead);
  if (buffers.has('io.ones')) device.queue.writeBuffer(buf('io.ones'), 0, new Float32Array(spec.batch * spec.seqLen).fill(1));
  const loraParams: LoraParamSlot[] = [];
  let offset = 0;
  for (const l of spec.plan.layers) {
    // Norms and biases are Tensors; projections are Tensors or QuantizedMatrix objects.
    const w = spec.weights.layers[l.index] as Record<string, Tensor | QuantizedMatrix> | undefined;
    if (!w) throw new Error(`plan keeps layer ${l.index} but its weights were not given`);
    for (const name of buffers.keys()) {
      const m = new RegExp(`^layer${l.index}\\.(\\w+)$`).exec(name);
      if (m && projections.has(m[1])) uploadProjection(name, m[1] as ProjectionWeightName, w[m[1]]);
      else if (m && m[1] in w) upload(name, w[m[1]] as Tensor);
      const lm = new RegExp(`^layer${l.index}\\.lora\\.(\\w+)\\.(A|B)$`).exec(name);
      if (lm) {
        const t = lm[1] as LoraTarget, which = lm[2] as 'A' | 'B';
        const pair = spec.lora?.layers.get(l.index)?.[t];
        if (!pair) throw new Error(`LoRA adapter has no ${t} pair for kept layer ${l.index}`);
        upload(name, pair[which]);
        loraParams.push({ name, layer: l.index, target: t, which, floats: pair[which].data.length, offset });
        offset += pair[which].data.length;
      }
    }
  }
  return loraParams;
}
