/**
 * The base model cut into the units a tab downloads: one file for the always-kept tensors
 * (embeddings, final norm, lm_head) and one per sub-block (attention or MLP of each layer), each a
 * safetensors file under a content-addressed URL, so a tab fetches only what its plan keeps and
 * caches it for as long as it likes.
 */
import { createHash } from 'node:crypto';
import {
  hfTensorNamesForBlock, serializeSafetensors, weightsToHfTensors, type ModelConfig, type SubmodelPlan, type LlamaWeights,
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
  private constructor(readonly id: string, readonly config: ModelConfig, readonly configJson: string, readonly tokenizerJson: string | undefined) {}

  static build(config: ModelConfig, weights: LlamaWeights, configJson: string, tokenizerJson: string | undefined): ModelParts {
    const tensors = weightsToHfTensors(config, weights);
    const hash = createHash('sha256').update(configJson);
    for (const [name, t] of [...tensors].sort(([a], [b]) => (a < b ? -1 : 1))) {
      hash.update(name);
      hash.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    }
    const mp = new ModelParts(hash.digest('hex').slice(0, 16), config, configJson, tokenizerJson);
    const pick = (names: string[]) => serializeSafetensors(new Map(names.map((n) => [n, tensors.get(n)!])));
    const block = new Set<string>();
    for (let i = 0; i < config.numLayers; i++) {
      for (const b of ['attention', 'mlp'] as const) {
        const names = hfTensorNamesForBlock(config, i, b);
        names.forEach((n) => block.add(n));
        mp.parts.set(ModelParts.blockName(i, b), pick(names));
      }
    }
    mp.parts.set('shared.safetensors', pick([...tensors.keys()].filter((n) => !block.has(n))));
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
