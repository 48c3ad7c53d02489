/**
 * A plan's weights from a GGUF with its packed tensors still packed: what a session holding a 4-bit
 * base uploads. Runs anywhere (the file is in memory).
 */
import type { SubmodelPlan } from '../submodelPlan';
import { HF_EMBED, HF_LM_HEAD, hfTensorNamesForPlan } from '../hfWeights';
import type { ModelConfig } from '../modelConfig';
import { keptProjections, quantizedWeightsFromHfTensors, type QuantizedLlamaWeights, type QuantizedMatrix } from '../weightQuantization';
import { GgufError } from './ggufContents';
import { ggufNameOfHfTensor, hfTensorsFromGguf } from './ggufLlamaTensors';
import { PACKED_GGML_TYPES, packedTensorFromGguf } from './ggufPacked';
import type { GgufFile } from './parseGgufBytes';

/**
 * The weights a plan needs with the file's packed tensors kept packed: the kept projections (all
 * Q4_1, or all Q8_0, in the file: the weights' format) and the vocabulary tables where the file
 * packs them (SmolLM2's Q8_0 embedding, tied to the head). Norms, and any table the file holds
 * as floats, are dequantized to float32. A kept projection in any other type is refused.
 */
export function ggufQuantizedWeights(file: GgufFile, config: ModelConfig, plan: SubmodelPlan): QuantizedLlamaWeights {
  try {
    const pack = (hf: string) => packedTensorFromGguf(file.contents.tensors.get(ggufNameOfHfTensor(hf) ?? '')!, file.bytes, config.numHeads, config.numKvHeads);
    const present = (hf: string) => file.contents.tensors.get(ggufNameOfHfTensor(hf) ?? '');
    const packed = new Map<string, QuantizedMatrix>();
    for (const hf of keptProjections(plan).keys()) if (present(hf)) packed.set(hf, pack(hf));
    const formats = [...new Set([...packed.values()].map((q) => q.format))];
    if (formats.length > 1) throw new GgufError(`the kept projections are packed as ${formats.join(' and ')}; a session holds one format`);
    for (const hf of config.tieWordEmbeddings ? [HF_EMBED] : [HF_EMBED, HF_LM_HEAD]) {
      const info = present(hf);
      if (info && PACKED_GGML_TYPES.has(info.type)) packed.set(hf, pack(hf));
    }
    const floatsNeeded = new Set(hfTensorNamesForPlan(config, plan).filter((n) => !packed.has(n)));
    const floats = hfTensorsFromGguf(file.contents, file.bytes, config.numHeads, config.numKvHeads, (n) => floatsNeeded.has(n));
    return quantizedWeightsFromHfTensors(config, floats, packed, formats[0] ?? 'q4_1', plan);
  } catch (e) {
    throw new GgufError(`${file.path}: ${(e as Error).message}`, { cause: e });
  }
}
