import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LoraAdapter } from '../model/lora';
import type { ModelConfig } from '../model/modelConfig';
import { loraFromPeft, loraToPeftTensors, peftAdapterConfig, PeftAdapterError } from '../model/peftAdapter';
import { parseSafetensors, serializeSafetensors } from '../model/safetensors';

const CONFIG = 'adapter_config.json';
const WEIGHTS = 'adapter_model.safetensors';

async function writeAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

/** Writes a PEFT-layout adapter directory (weights first, config last, each via temp + rename). */
export async function saveAdapterDir(dir: string, adapter: LoraAdapter, model: ModelConfig, baseModel: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeAtomic(join(dir, WEIGHTS), serializeSafetensors(loraToPeftTensors(adapter), { format: 'pt' }));
  await writeAtomic(join(dir, CONFIG), JSON.stringify(peftAdapterConfig(adapter, model, baseModel), null, 2) + '\n');
}

/** Reads a PEFT-layout LoRA adapter directory for the given model. */
export async function loadAdapterDir(dir: string, model: ModelConfig): Promise<LoraAdapter> {
  const read = async (name: string): Promise<Buffer> => {
    try {
      return await readFile(join(dir, name));
    } catch {
      throw new PeftAdapterError(`adapter directory ${dir} has no ${name} (a PEFT adapter needs ${CONFIG} and ${WEIGHTS})`);
    }
  };
  const cfgText = (await read(CONFIG)).toString('utf8');
  let cfg: unknown;
  try {
    cfg = JSON.parse(cfgText);
  } catch (e) {
    throw new PeftAdapterError(`${join(dir, CONFIG)} is not valid JSON: ${(e as Error).message}`);
  }
  const tensors = parseSafetensors(new Uint8Array(await read(WEIGHTS)));
  return loraFromPeft(cfg, tensors, model);
}
