/**
 * The round's submodel plan as a row of boxes, one per model layer: filled when the layer is
 * trained whole, half-filled when only its attention or only its MLP is kept, empty when skipped.
 */
import type { SubmodelPlan } from '@fedllm/core';

export type LayerKept = 'full' | 'attention' | 'mlp' | 'none';

/** What a plan keeps of layer `index`. */
export function layerKept(plan: SubmodelPlan, index: number): LayerKept {
  const l = plan.layers.find((x) => x.index === index);
  if (!l || (!l.attention && !l.mlp)) return 'none';
  return l.attention && l.mlp ? 'full' : l.attention ? 'attention' : 'mlp';
}

const WORDS: Record<LayerKept, string> = { full: 'attention and MLP trained', attention: 'attention only', mlp: 'MLP only', none: 'skipped' };

/** Draws the boxes; without a plan yet (or the layer count) the container is emptied. */
export function renderPlan(container: HTMLElement, numLayers: number | undefined, plan: SubmodelPlan | undefined): void {
  if (!plan || !numLayers) return void container.replaceChildren();
  const boxes = Array.from({ length: numLayers }, (_, i) => {
    const kept = layerKept(plan, i);
    const box = document.createElement('span');
    box.className = 'layer';
    box.dataset.layer = String(i);
    box.dataset.kept = kept;
    box.title = `layer ${i}: ${WORDS[kept]}`;
    return box;
  });
  container.replaceChildren(...boxes);
  container.setAttribute('aria-label', boxes.map((b) => b.title).join('; '));
}
