/**
 * Checks an uploaded adapter before it can touch the global model: a well-formed safetensors file
 * within the size bound, exactly the PEFT tensors of the assignment's plan with the right shapes,
 * and only finite numbers (one NaN would poison every layer it is averaged into).
 */
import {
  loraFromPeft, parseSafetensors, targetDims, peftAdapterConfig, ProtocolError, type LoraAdapter, type LoraConfig, type ModelConfig,
  type SubmodelPlan,
} from '@fedllm/core';

export function validateUpdateAdapter(bytes: Uint8Array, opts: { config: ModelConfig; lora: LoraConfig; plan: SubmodelPlan; maxBytes: number }): LoraAdapter {
  if (bytes.byteLength > opts.maxBytes) throw new ProtocolError('too-large', `adapter of ${bytes.byteLength} bytes exceeds the ${opts.maxBytes}-byte limit`);
  let adapter: LoraAdapter;
  try {
    const tensors = parseSafetensors(bytes);
    adapter = loraFromPeft(peftAdapterConfig({ config: opts.lora, layers: new Map() }, opts.config, 'base'), tensors, opts.config, { plan: opts.plan });
  } catch (e) {
    throw new ProtocolError('bad-tensor', `adapter rejected: ${(e as Error).message}`);
  }
  for (const [layer, l] of adapter.layers) {
    for (const [target, pair] of Object.entries(l)) {
      for (const which of ['A', 'B'] as const) {
        const d = pair[which].data;
        for (let i = 0; i < d.length; i++) {
          if (!Number.isFinite(d[i])) throw new ProtocolError('not-finite', `adapter rejected: layer ${layer} ${target}.${which} has a non-finite value (${d[i]}) at index ${i}`);
        }
      }
    }
  }
  return adapter;
}

/** Bytes of the largest update a plan can produce (PEFT safetensors of the full adapter) plus header room. */
export function maxUpdateBytes(config: ModelConfig, lora: LoraConfig): number {
  let floats = 0;
  for (const t of lora.targets) {
    const [fin, fout] = targetDims(config, t);
    floats += lora.rank * (fin + fout);
  }
  // F32 data, plus a generous JSON header (about 200 bytes per tensor).
  return config.numLayers * (floats * 4 + lora.targets.length * 2 * 256) + 65_536;
}
