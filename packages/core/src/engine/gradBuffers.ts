import { mapWeightTensors, type LlamaWeights } from '../model/llamaWeights';
import { allocLike } from './floatArray';
import type { LayerLora, LoraAdapter, LoraTarget } from '../model/lora';
import type { ParamTensor } from './paramTensor';

function zerosOf(t: ParamTensor): ParamTensor {
  return { shape: [...t.shape], data: allocLike(t.data, t.data.length) };
}

/**
 * Zero gradient buffers shaped like the weights, for full-parameter training. A tied LM head
 * shares the embedding's buffer, so both uses accumulate into one gradient.
 */
export function zeroGradsLike(w: LlamaWeights<ParamTensor>): LlamaWeights<ParamTensor> {
  return mapWeightTensors(w, zerosOf);
}

/** Zero gradient buffers shaped like a LoRA adapter. */
export function zeroLoraGradsLike(a: LoraAdapter<ParamTensor>): LoraAdapter<ParamTensor> {
  const layers = new Map<number, LayerLora<ParamTensor>>();
  for (const [i, l] of a.layers) {
    const out: LayerLora<ParamTensor> = {};
    for (const [t, p] of Object.entries(l) as [LoraTarget, { A: ParamTensor; B: ParamTensor }][]) {
      out[t] = { A: zerosOf(p.A), B: zerosOf(p.B) };
    }
    layers.set(i, out);
  }
  return { config: a.config, layers };
}

/** Named parameter of a model or adapter, in a stable order (optimizer state follows it). */
export interface NamedParam {
  name: string;
  tensor: ParamTensor;
}

/** Every distinct tensor of the weights (a tied head is listed once, as the embedding). */
export function listModelParams(w: LlamaWeights<ParamTensor>): NamedParam[] {
  const out: NamedParam[] = [{ name: 'embed', tensor: w.embed }];
  w.layers.forEach((l, i) => {
    if (!l) return;
    for (const [k, v] of Object.entries(l) as [string, ParamTensor | undefined][]) {
      if (v) out.push({ name: `layers.${i}.${k}`, tensor: v });
    }
  });
  out.push({ name: 'finalNorm', tensor: w.finalNorm });
  if (w.lmHead !== w.embed) out.push({ name: 'lmHead', tensor: w.lmHead });
  return out;
}

/** Every LoRA matrix of the adapter, ordered by layer, target, then A before B. */
export function listLoraParams(a: LoraAdapter<ParamTensor>): NamedParam[] {
  const out: NamedParam[] = [];
  for (const i of [...a.layers.keys()].sort((x, y) => x - y)) {
    const l = a.layers.get(i)!;
    for (const t of a.config.targets) {
      const p = l[t];
      if (!p) continue;
      out.push({ name: `layers.${i}.${t}.A`, tensor: p.A }, { name: `layers.${i}.${t}.B`, tensor: p.B });
    }
  }
  return out;
}
