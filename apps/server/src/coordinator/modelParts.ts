/**
 * The base model cut into the units a tab downloads: one file for the always-kept tensors
 * (embeddings, final norm, lm_head) and one per sub-block (attention or MLP of each layer), each a
 * safetensors file under a content-addressed URL, so a tab fetches only what its plan keeps and
 * caches it for as long as it likes. A quantized base (a GGUF's Q4_1 projections and Q8_0
 * embedding) is served as it sits on the GPU: packed words in packed safetensors, no float image.
 */
import { createHash } from 'node:crypto';
import {
  HF_EMBED, HF_LM_HEAD, hfProjectionName, hfTensorNamesForBlock, isPackedTable, PROJECTION_WEIGHTS, serializePackedSafetensors, vocabFormatOf,
  weightsToHfTensors, type LlamaWeights, type ModelConfig, type QuantizedLlamaWeights, type QuantizedMatrix, type SubmodelPlan, type WeightFormat,
} from '@fedllm/core';

export interface ModelPart {
  name: string;
  bytes: Uint8Array;
}

export class ModelParts {
  private readonly parts = new Map<string, Uint8Array>();

  /**
   * @param id content hash of the model (config + weights): part URLs include it, so a changed
   *   model never hits a stale cache.
   */
  private constructor(
    readonly id: string, readonly config: ModelConfig, readonly configJson: string, readonly tokenizerJson: string | undefined,
    /** How the parts store the projections and the vocabulary tables (what a tab's session holds). */
    readonly weightFormat: WeightFormat, readonly vocabFormat: WeightFormat,
  ) {}

  /**
   * @param packed the same model with packed tensors (all layers): served instead of their float
   *   image, e.g. from ggufQuantizedWeights.
   */
  static build(config: ModelConfig, weights: LlamaWeights, configJson: string, tokenizerJson: string | undefined, packed?: QuantizedLlamaWeights): ModelParts {
    const tensors = weightsToHfTensors(config, weights);
    const packedByName = packed ? packedTensorsByHfName(config, packed) : new Map<string, QuantizedMatrix>();
    for (const n of packedByName.keys()) tensors.delete(n);
    const hash = createHash('sha256').update(configJson);
    const bytesOf = (a: Float32Array | Uint32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    for (const name of [...tensors.keys(), ...packedByName.keys()].sort()) {
      hash.update(name);
      const q = packedByName.get(name);
      if (q) hash.update(q.format).update(bytesOf(q.words)).update(bytesOf(q.scales));
      else hash.update(bytesOf(tensors.get(name)!.data));
    }
    const mp = new ModelParts(hash.digest('hex').slice(0, 16), config, configJson, tokenizerJson, packed?.format ?? 'f32', packed ? vocabFormatOf(packed) : 'f32');
    const pick = (names: string[]) => serializePackedSafetensors(
      new Map(names.filter((n) => tensors.has(n)).map((n) => [n, tensors.get(n)!])),
      new Map(names.filter((n) => packedByName.has(n)).map((n) => [n, packedByName.get(n)!])),
    );
    const block = new Set<string>();
    for (let i = 0; i < config.numLayers; i++) {
      for (const b of ['attention', 'mlp'] as const) {
        const names = hfTensorNamesForBlock(config, i, b);
        names.forEach((n) => block.add(n));
        mp.parts.set(ModelParts.blockName(i, b), pick(names));
      }
    }
    mp.parts.set('shared.safetensors', pick([...tensors.keys(), ...packedByName.keys()].filter((n) => !block.has(n))));
    return mp;
  }

  static blockName(layer: number, block: 'attention' | 'mlp'): string {
    return `layer-${layer}-${block}.safetensors`;
  }

  /** URL prefix of this model's files. */
  get baseUrl(): string {
    return `/models/${this.id}`;
  }

  part(name: string): Uint8Array | undefined {
    return this.parts.get(name);
  }

  /** The files a plan needs, with their sizes (what the tab will download if it has no copy). */
  partsFor(plan: SubmodelPlan): { url: string; bytes: number }[] {
    const names = ['shared.safetensors'];
    for (const l of plan.layers) {
      if (l.attention) names.push(ModelParts.blockName(l.index, 'attention'));
      if (l.mlp) names.push(ModelParts.blockName(l.index, 'mlp'));
    }
    return names.map((n) => ({ url: `${this.baseUrl}/parts/${n}`, bytes: this.parts.get(n)!.byteLength }));
  }
}

/** The packed tensors of a quantized base by HF name: every layer's projections and any packed vocabulary table. */
function packedTensorsByHfName(config: ModelConfig, packed: QuantizedLlamaWeights): Map<string, QuantizedMatrix> {
  const out = new Map<string, QuantizedMatrix>();
  packed.layers.forEach((l, i) => {
    if (!l) throw new RangeError(`ModelParts: the packed base lacks layer ${i}`);
    for (const name of PROJECTION_WEIGHTS) out.set(hfProjectionName(i, name), l[name]);
  });
  if (packed.layers.length !== config.numLayers) throw new RangeError(`ModelParts: the packed base has ${packed.layers.length} layers, the config ${config.numLayers}`);
  if (isPackedTable(packed.embed)) out.set(HF_EMBED, packed.embed);
  if (!config.tieWordEmbeddings && isPackedTable(packed.lmHead)) out.set(HF_LM_HEAD, packed.lmHead);
  return out;
}
