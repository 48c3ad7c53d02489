/**
 * A DevFT layer grouping: groups[s] lists the full-model layers that stage layer s stands for.
 * Groups partition the layers 0..numLayers-1; the anchor (the paper's "first layer of the group",
 * into which DBLF fuses the others, and whose LoRA seeds the stage layer) is the lowest index.
 */

/** Throws unless `groups` is a partition of 0..numLayers-1 into non-empty groups. */
export function validateLayerGroups(groups: readonly (readonly number[])[], numLayers: number): void {
  if (groups.length === 0) throw new Error('layer groups: no groups');
  const seen = new Array<boolean>(numLayers).fill(false);
  groups.forEach((g, s) => {
    if (g.length === 0) throw new Error(`layer groups: group ${s} is empty`);
    for (const i of g) {
      if (!Number.isInteger(i) || i < 0 || i >= numLayers) throw new Error(`layer groups: group ${s} holds layer ${i}, outside 0..${numLayers - 1}`);
      if (seen[i]) throw new Error(`layer groups: layer ${i} is in more than one group`);
      seen[i] = true;
    }
  });
  const missing = seen.findIndex((x) => !x);
  if (missing >= 0) throw new Error(`layer groups: layer ${missing} is in no group`);
}

/** The anchor (lowest layer index) of each group. */
export function groupAnchors(groups: readonly (readonly number[])[]): number[] {
  return groups.map((g, s) => {
    if (g.length === 0) throw new Error(`layer groups: group ${s} is empty`);
    return Math.min(...g);
  });
}
