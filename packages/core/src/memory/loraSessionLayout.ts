import type { ModelConfig } from '../model/modelConfig';
import { targetDims, type LoraConfig, type LoraTarget } from '../model/lora';
import type { SubmodelPlan } from '../model/submodelPlan';
import { quantizedLayout, type WeightFormat } from '../model/weightQuantization';

/** What a GPU buffer of a LoRA training session holds (for budgets and the dashboard's breakdown). */
export type BufferKind = 'weights' | 'lora' | 'optimizer' | 'activations' | 'scratch' | 'io';

export interface BufferSpec {
  name: string;
  kind: BufferKind;
  /** Number of 32-bit elements (f32, i32 for token ids, or u32 words of packed weights). */
  elements: number;
}

export interface LoraSessionShape {
  config: ModelConfig;
  plan: SubmodelPlan;
  lora: LoraConfig;
  /** Sequences per step. */
  batch: number;
  /** Tokens per sequence. */
  seqLen: number;
  /** Also allocate a staging buffer to read the logits back (inference / conformance runs). */
  readLogits?: boolean;
  /** Global gradient-norm clipping of the LoRA gradients (adds two tiny scratch buffers). */
  clipNorm?: number;
  /**
   * Rows (tokens) of logits held at once: the LM head and the loss run in chunks of this many
   * rows, so the [rows, vocab] logits buffer stays under the device's binding limit and small
   * budgets. Default: all B·T rows at once.
   */
  logitsChunkRows?: number;
  /**
   * How the seven projection weights of each kept layer are stored (default 'f32'). With 'int8' or
   * 'int4' each is a buffer of packed words (same name) plus a float32 `<name>.scales` buffer;
   * embedding, head, norms and biases stay float32 (see QuantizedLlamaWeights).
   */
  weightFormat?: WeightFormat;
  /**
   * How the vocabulary tables (embedding, untied LM head) are stored (default 'f32'): packed like
   * the projections (words under the table's name plus `<name>.scales`), e.g. a GGUF's Q8_0
   * embedding as 'q8_0'.
   */
  vocabFormat?: WeightFormat;
}

/** Rows of the logits buffer: the chunk size, at most B·T. */
export function logitsRows(s: Pick<LoraSessionShape, 'batch' | 'seqLen' | 'logitsChunkRows'>): number {
  const M = s.batch * s.seqLen;
  return Math.min(M, s.logitsChunkRows ?? M);
}

const ATTN_TARGETS: LoraTarget[] = ['q', 'k', 'v', 'o'];
const MLP_TARGETS: LoraTarget[] = ['gate', 'up', 'down'];

/**
 * Every buffer a WebGPU LoRA training session allocates, by name and size. The session allocates
 * exactly this list through its memory ledger, so the memory estimate and the measured peak come
 * from one definition. Frozen weights are present only for kept sub-blocks: a skipped attention
 * block costs no q/k/v/o memory, which is what makes a pruned submodel fit a small budget.
 */
export function loraSessionBuffers(s: LoraSessionShape): BufferSpec[] {
  const c = s.config, H = c.hiddenSize, V = c.vocabSize, F = c.intermediateSize;
  const qd = c.numHeads * c.headDim, kvd = c.numKvHeads * c.headDim;
  const M = s.batch * s.seqLen, r = s.lora.rank;
  const out: BufferSpec[] = [];
  const add = (name: string, kind: BufferKind, elements: number) => out.push({ name, kind, elements });

  const table = (name: string) => {
    const vf = s.vocabFormat ?? 'f32';
    if (vf === 'f32') return add(name, 'weights', V * H);
    const l = quantizedLayout(V, H, vf);
    add(name, 'weights', l.words);
    add(`${name}.scales`, 'weights', l.scales);
  };
  table('embed');
  add('finalNorm', 'weights', H);
  if (!c.tieWordEmbeddings) table('lmHead');
  add('rope.cos', 'weights', s.seqLen * (c.headDim / 2));
  add('rope.sin', 'weights', s.seqLen * (c.headDim / 2));
  add('io.inputIds', 'io', M);
  add('io.targets', 'io', M);
  add('io.lossRows', 'io', M);
  add('io.lossReadback', 'io', M);
  // A column of ones: bias adds run as a rank-1 matmul ones[M,1]·bias[1,N], so biases need no kernel of their own.
  if (c.attentionBias || c.oProjBias || c.mlpBias) add('io.ones', 'io', M);
  let loraFloats = 0, loraTensors = 0;
  const format = s.weightFormat ?? 'f32';
  /** A frozen [rows, cols] projection weight in the session's format. */
  const proj = (name: string, rows: number, cols: number) => {
    if (format === 'f32') return add(name, 'weights', rows * cols);
    const l = quantizedLayout(rows, cols, format);
    add(name, 'weights', l.words);
    add(`${name}.scales`, 'weights', l.scales);
  };

  const maxScratch = { attn: false, mlp: false };
  for (const l of s.plan.layers) {
    const p = `layer${l.index}`;
    add(`${p}.x`, 'activations', M * H);
    const blocks: [boolean, LoraTarget[]][] = [[l.attention, ATTN_TARGETS], [l.mlp, MLP_TARGETS]];
    if (l.attention) {
      maxScratch.attn = true;
      add(`${p}.inputNorm`, 'weights', H);
      proj(`${p}.qProj`, qd, H);
      proj(`${p}.kProj`, kvd, H);
      proj(`${p}.vProj`, kvd, H);
      proj(`${p}.oProj`, H, qd);
      if (c.attentionBias) { add(`${p}.qBias`, 'weights', qd); add(`${p}.kBias`, 'weights', kvd); add(`${p}.vBias`, 'weights', kvd); }
      if (c.oProjBias) add(`${p}.oBias`, 'weights', H);
      add(`${p}.attnNorm`, 'activations', M * H);
      add(`${p}.attnInvRms`, 'activations', M);
      add(`${p}.q`, 'activations', M * qd);
      add(`${p}.k`, 'activations', M * kvd);
      add(`${p}.v`, 'activations', M * kvd);
      add(`${p}.probs`, 'activations', s.batch * c.numHeads * s.seqLen * s.seqLen);
      add(`${p}.mixed`, 'activations', M * qd);
      add(`${p}.mid`, 'activations', M * H);
    }
    if (l.mlp) {
      maxScratch.mlp = true;
      add(`${p}.postNorm`, 'weights', H);
      proj(`${p}.gateProj`, F, H);
      proj(`${p}.upProj`, F, H);
      proj(`${p}.downProj`, H, F);
      if (c.mlpBias) { add(`${p}.gateBias`, 'weights', F); add(`${p}.upBias`, 'weights', F); add(`${p}.downBias`, 'weights', H); }
      add(`${p}.mlpNorm`, 'activations', M * H);
      add(`${p}.mlpInvRms`, 'activations', M);
      add(`${p}.gate`, 'activations', M * F);
      add(`${p}.up`, 'activations', M * F);
      add(`${p}.act`, 'activations', M * F);
    }
    for (const [kept, targets] of blocks) {
      if (!kept) continue;
      for (const t of targets) {
        if (!s.lora.targets.includes(t)) continue;
        const [fin, fout] = targetDims(c, t);
        const q = `${p}.lora.${t}`;
        add(`${q}.A`, 'lora', r * fin);
        add(`${q}.B`, 'lora', fout * r);
        add(`${q}.gradA`, 'optimizer', r * fin);
        add(`${q}.gradB`, 'optimizer', fout * r);
        add(`${q}.mA`, 'optimizer', r * fin);
        add(`${q}.vA`, 'optimizer', r * fin);
        add(`${q}.mB`, 'optimizer', fout * r);
        add(`${q}.vB`, 'optimizer', fout * r);
        add(`${q}.mid`, 'activations', M * r);
        loraFloats += r * fin + fout * r;
        loraTensors += 2;
      }
    }
  }
  // Staging for reading the trained adapter back (mappable buffers must be allocated up front too).
  if (loraFloats > 0) add('io.loraReadback', 'io', loraFloats);
  add('final.hidden', 'activations', M * H);
  add('final.normed', 'activations', M * H);
  add('final.invRms', 'activations', M);
  add('logits', 'activations', logitsRows(s) * V);
  if (s.readLogits) add('io.logitsReadback', 'io', M * V);
  // Backward scratch, shared by all layers (one layer's backward runs at a time); a forward-only
  // session (no LoRA targets) has no backward.
  if (s.lora.targets.length === 0) return out;
  if (s.clipNorm && loraTensors > 0) {
    add('grad.normParts', 'scratch', loraTensors);
    add('grad.clipScale', 'scratch', 1);
  }
  add('grad.stream', 'scratch', M * H);
  add('grad.stream2', 'scratch', M * H);
  add('grad.norm', 'scratch', M * H);
  add('grad.loraMid', 'scratch', M * r);
  if (maxScratch.attn) {
    add('grad.mixed', 'scratch', M * qd);
    add('grad.q', 'scratch', M * qd);
    add('grad.k', 'scratch', M * kvd);
    add('grad.v', 'scratch', M * kvd);
    add('grad.rowDot', 'scratch', s.batch * c.numHeads * s.seqLen);
  }
  if (maxScratch.mlp) {
    add('grad.act', 'scratch', M * F);
    add('grad.gate', 'scratch', M * F);
    add('grad.up', 'scratch', M * F);
  }
  return out;
}

export interface MemoryEstimate {
  totalBytes: number;
  byKind: Record<BufferKind, number>;
}

/** Bytes of loraSessionBuffers (each buffer rounded up to 4 bytes, as the ledger does). */
export function estimateLoraSessionBytes(s: LoraSessionShape): MemoryEstimate {
  const byKind: Record<BufferKind, number> = { weights: 0, lora: 0, optimizer: 0, activations: 0, scratch: 0, io: 0 };
  for (const b of loraSessionBuffers(s)) byKind[b.kind] += Math.max(4, b.elements * 4);
  return { totalBytes: Object.values(byKind).reduce((a, b) => a + b, 0), byKind };
}
