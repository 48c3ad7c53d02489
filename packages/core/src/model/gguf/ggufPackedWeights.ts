/**
 * A plan's weights from a GGUF with the projections still packed: what a session holding a 4-bit
 * base uploads. Runs anywhere (the file is in memory).
 */
import type { SubmodelPlan } from '../../engine/submodelPlan';
import { hfTensorNamesForPlan } from '../hfWeights';
import type { ModelConfig } from '../modelConfig';
import { keptProjections, quantizedWeightsFromHfTensors, type QuantizedLlamaWeights, type QuantizedMatrix } from '../weightQuantization';
import { GgufError } from './ggufContents';
import { ggufNameOfHfTensor, hfTensorsFromGguf } from './ggufLlamaTensors';
import { packedProjectionFromGguf } from './ggufPacked';
import type { GgufFile } from './parseGgufBytes';

/**
 * The weights a plan needs with its projections kept packed ('q4_1', straight from the file's
 * Q4_1 blocks); embedding, norms and head dequantized to float32. Every kept projection must be
 * Q4_1 in the file.
 */
export function ggufQuantizedWeights(file: GgufFile, config: ModelConfig, plan: SubmodelPlan): QuantizedLlamaWeights {
  try {
    const packed = new Map<string, QuantizedMatrix>();
    for (const hf of keptProjections(plan).keys()) {
      const info = file.contents.tensors.get(ggufNameOfHfTensor(hf) ?? '');
      if (info) packed.set(hf, packedProjectionFromGguf(info, file.bytes, config.numHeads, config.numKvHeads));
    }
    const floatsNeeded = new Set(hfTensorNamesForPlan(config, plan).filter((n) => !packed.has(n)));
    const floats = hfTensorsFromGguf(file.contents, file.bytes, config.numHeads, config.numKvHeads, (n) => floatsNeeded.has(n));
    return quantizedWeightsFromHfTensors(config, floats, packed, 'q4_1', plan);
  } catch (e) {
    throw new GgufError(`${file.path}: ${(e as Error).message}`, { cause: e });
  }
}
