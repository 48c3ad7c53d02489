/**
 * The frozen bases a run's strategy derives from its model (DevFT's fused stage models, FedSODA's
 * aligned and quantized sub-models), cut into parts like the run's own model and served under
 * their own content-addressed URLs, so tabs download them like any other tensors.
 */
import { toHfConfig, type ServedModel } from '@fedllm/core';
import { ModelParts } from './modelParts';

/** Derived models kept servable: a stage change or re-alignment makes new ones; in-flight tasks may still fetch the last few. */
const KEEP = 8;

export class ServedModels {
  private readonly byKey = new Map<string, ModelParts>();

  constructor(private readonly base: ModelParts, private readonly tokenizerJson: string | undefined) {}

  /** The parts of a strategy's served model ('base' is the run's model itself). */
  partsFor(m: ServedModel): ModelParts {
    if (m.key === 'base') return this.base;
    let p = this.byKey.get(m.key);
    if (!p) {
      p = ModelParts.build(m.config, m.weights, JSON.stringify(toHfConfig(m.config), null, 2), this.tokenizerJson);
      this.byKey.set(m.key, p);
      while (this.byKey.size > KEEP) this.byKey.delete(this.byKey.keys().next().value!);
    }
    return p;
  }

  /** A derived model by its content id (for the HTTP routes). */
  byId(id: string): ModelParts | undefined {
    for (const p of this.byKey.values()) if (p.id === id) return p;
    return undefined;
  }
}
