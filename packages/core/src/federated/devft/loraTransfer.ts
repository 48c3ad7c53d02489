/**
 * DevFT's knowledge transfer (arXiv 2508.00041, stage step 3) between a stage submodel's LoRA and
 * the full model's: after a stage, each stage layer's trained LoRA is copied to every member layer
 * of its group, so the full model can be evaluated and the next, deeper stage initialised.
 */
import { cloneLayerLora, type LayerLora, type LoraAdapter } from '../../model/lora';
import { groupAnchors, validateLayerGroups } from './layerGroups';

/**
 * The full-model adapter of a trained stage adapter: every member of groups[s] gets its own copy of
 * stage layer s's LoRA pairs (the paper: the representative's LoRA is copied to its members). A stage
 * layer without LoRA leaves its members without. Everything is copied; the input is not shared.
 */
export function transferStageLora(stageAdapter: LoraAdapter, groups: readonly (readonly number[])[], fullNumLayers: number): LoraAdapter {
  validateLayerGroups(groups, fullNumLayers);
  for (const s of stageAdapter.layers.keys()) {
    if (!Number.isInteger(s) || s < 0 || s >= groups.length) throw new Error(`transferStageLora: the stage adapter has layer ${s}; the stage has ${groups.length} layers`);
  }
  const layers = new Map<number, LayerLora>();
  groups.forEach((g, s) => {
    const l = stageAdapter.layers.get(s);
    if (l) for (const i of [...g].sort((a, b) => a - b)) layers.set(i, cloneLayerLora(l));
  });
  return { config: { ...stageAdapter.config, targets: [...stageAdapter.config.targets] }, layers: new Map([...layers].sort((a, b) => a[0] - b[0])) };
}

/**
 * The initial adapter of a new stage: stage layer s starts from the full adapter's LoRA of groups[s]'s
 * anchor (lowest index). The paper only specifies the copy to members; when the next stage regroups,
 * we seed each new fused layer from its anchor's (transferred) LoRA, matching DBLF, whose fused layer
 * is the anchor plus a β-scaled correction. (Averaging the members' LoRAs would be the alternative;
 * the anchor keeps stageLoraFromFull(transferStageLora(x, g), g) == x.) Anchors without LoRA are skipped.
 */
export function stageLoraFromFull(fullAdapter: LoraAdapter, groups: readonly (readonly number[])[]): LoraAdapter {
  const layers = new Map<number, LayerLora>();
  groupAnchors(groups).forEach((a, s) => {
    const l = fullAdapter.layers.get(a);
    if (l) layers.set(s, cloneLayerLora(l));
  });
  return { config: { ...fullAdapter.config, targets: [...fullAdapter.config.targets] }, layers };
}
