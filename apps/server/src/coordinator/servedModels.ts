/**
 * The frozen bases a run's strategy derives from its model (DevFT's fused stage models, FedSODA's
 * aligned and quantized sub-models), cut into parts like the run's own model and served under
 * their own content-addressed URLs, so tabs download them like any other tensors.
 */
import { toHfConfig, type ServedModel } from '@fedllm/core';
import { ModelParts } from './modelParts';

export class ServedModels {
  private readonly byKey = new Map<string, { parts: ModelParts; model: ServedModel; lastRound: number }>();
  private round = 0;

  constructor(private readonly base: ModelParts, private readonly tokenizerJson: string | undefined) {}

  /**
   * A new round: models no task of this round or the last one was given are dropped. Eviction goes
   * by use, not by count: one round may hand out a sub-model per memory tier (FedSODA) while a tab
   * of the previous round is still fetching its own, and dropping a model a task names would turn
   * that tab's download into a 404.
   */
  beginRound(round: number): void {
    this.round = round;
    for (const [key, m] of this.byKey) if (m.lastRound < round - 1) this.byKey.delete(key);
  }

  /** The parts of a strategy's served model ('base' is the run's model itself). */
  partsFor(m: ServedModel): ModelParts {
    if (m.key === 'base') return this.base;
    let entry = this.byKey.get(m.key);
    if (!entry) {
      entry = { parts: ModelParts.build(m.config, m.weights, JSON.stringify(toHfConfig(m.config), null, 2), this.tokenizerJson), model: m, lastRound: 0 };
      this.byKey.set(m.key, entry);
    }
    entry.lastRound = this.round; // a use, new or not
    return entry.parts;
  }

  /** Keys of the derived models served now (their weights need not be sent again). */
  heldKeys(): string[] {
    return [...this.byKey.keys()];
  }

  /** A derived model served now, by key. */
  model(key: string): ServedModel | undefined {
    return this.byKey.get(key)?.model;
  }

  /** A derived model by its content id (for the HTTP routes). */
  byId(id: string): ModelParts | undefined {
    for (const m of this.byKey.values()) if (m.parts.id === id) return m.parts;
    return undefined;
  }
}
