/**
 * The base of strategies that wrap strategies (a robust aggregation, a privacy mechanism, an
 * update-norm bound): every call goes to the inner strategy unless a subclass overrides it. This
 * works because a strategy keeps no copy of the global adapter (the round loop owns it) and its
 * derived state travels through snapshot()/restore(), so a wrapper can change what goes in or
 * comes out of any step without the inner method noticing.
 */
import type { SeededRandom } from '../../../data/seededRandom';
import type { LoraAdapter } from '../../../model/lora';
import type {
  ClientOffer, FederatedStrategy, StrategyAssignment, StrategyName, StrategyState, StrategyUpdate,
} from '../federatedStrategy';

export class DelegatingStrategy implements FederatedStrategy {
  constructor(protected readonly inner: FederatedStrategy) {}

  get name(): StrategyName {
    return this.inner.name;
  }

  initialGlobal(): LoraAdapter {
    return this.inner.initialGlobal();
  }

  configureRound(round: number, global: LoraAdapter, clients: readonly ClientOffer[], rng: SeededRandom): StrategyAssignment[] {
    return this.inner.configureRound(round, global, clients, rng);
  }

  aggregate(global: LoraAdapter, updates: readonly StrategyUpdate[]): LoraAdapter {
    return this.inner.aggregate(global, updates);
  }

  /** A wrapper with state of its own nests the inner state under its own key. */
  snapshot(): StrategyState {
    return this.inner.snapshot();
  }

  restore(global: LoraAdapter, state: StrategyState | undefined): void {
    this.inner.restore(global, state);
  }

  describe(): string {
    return this.inner.describe();
  }
}
