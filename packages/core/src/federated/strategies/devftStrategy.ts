/**
 * DevFT (Wu et al., arXiv 2508.00041) as a strategy: the run is cut into developmental stages of
 * growing depth (stageSchedule.ts). At each stage start the coordinator groups the full model's
 * layers by parameter similarity, base plus the current LoRA (spectralLayerGrouping.ts), fuses each
 * group into one representative layer (differentialFusion.ts, β) and serves that stage model: a
 * smaller Llama whose fused weights tabs download like any other tensors. Tabs train LoRA on every
 * stage layer (FedAvg of the factors); after each round the stage LoRA is copied to the members of
 * each group (loraTransfer.ts), which is the full-model adapter that is evaluated and that seeds
 * the next, deeper stage. A tab whose budget cannot hold the stage model sits the stage out (the
 * paper gives every client the same stage model; it does not address tabs smaller than it).
 */
import type { SeededRandom } from '../../data/seededRandom';
import { SeededRandom as Rng } from '../../data/seededRandom';
import { createLoraAdapter, type LoraAdapter } from '../../engine/lora';
import { fullPlan } from '../../engine/submodelPlan';
import { buildStageModel } from '../devft/differentialFusion';
import { stageLoraFromFull, transferStageLora } from '../devft/loraTransfer';
import { layerParameterVectors, spectralLayerGrouping } from '../devft/spectralLayerGrouping';
import { devftStageDepths, roundsPerStage } from '../devft/stageSchedule';
import { foldUpdates } from './foldUpdates';
import type { FederatedStrategy, ServedModel, StrategyAssignment, StrategyEnv, StrategyUpdate } from './federatedStrategy';
import type { StrategyOptions } from './strategyOptions';
import { planPeakBytes } from '../submodelPlanner';

export class DevftStrategy implements FederatedStrategy {
  readonly name = 'devft' as const;
  readonly depths: number[];
  private readonly stageStarts: number[];
  private global: LoraAdapter;
  private stage = -1;
  private groups: number[][] = [];
  private served: ServedModel | undefined;
  private stageAdapter: LoraAdapter | undefined;

  constructor(private readonly env: StrategyEnv, private readonly opts: StrategyOptions) {
    const L = env.config.numLayers;
    // A run shorter than the schedule gets fewer stages (each stage needs a round).
    this.depths = devftStageDepths(L, Math.max(1, Math.min(opts.devftStages, env.totalRounds)));
    const per = roundsPerStage(env.totalRounds, this.depths);
    this.stageStarts = per.map((_, i) => per.slice(0, i).reduce((a, b) => a + b, 0));
    this.global = createLoraAdapter(env.config, env.lora, [...Array(L).keys()], new Rng(env.seed));
  }

  /** The stage a round belongs to. */
  stageOf(round: number): number {
    let s = 0;
    while (s + 1 < this.stageStarts.length && round >= this.stageStarts[s + 1]) s++;
    return s;
  }

  beginRound(round: number): void {
    const s = this.stageOf(round);
    if (s === this.stage) return;
    this.stage = s;
    const { config: cfg, weights } = this.env;
    // Similarity of the layers as they are now: base plus the LoRA learnt in earlier stages.
    const vectors = layerParameterVectors(cfg, weights, this.global);
    this.groups = spectralLayerGrouping(vectors, this.depths[s], { seed: this.env.seed + s });
    const stage = buildStageModel(cfg, weights, this.groups, this.opts.devftBeta);
    this.served = { key: `devft-stage${s}`, config: stage.config, weights: stage.weights, weightFormat: 'f32' };
    this.stageAdapter = stageLoraFromFull(this.global, this.groups);
  }

  assign(client: { clientId: string; budgetBytes: number }, _rng: SeededRandom): StrategyAssignment {
    const served = this.served, adapter = this.stageAdapter;
    if (!served || !adapter) throw new Error('DevFT: beginRound must run before assignments');
    const plan = fullPlan(served.config);
    const need = planPeakBytes({ ...this.env, config: served.config, weightFormat: 'f32', vocabFormat: 'f32' }, plan); // stage models are float32
    if (need > client.budgetBytes) {
      return { ...client, excluded: `DevFT stage ${this.stage} model (${served.config.numLayers} fused layers) needs ${need} B` };
    }
    return { ...client, model: served, plan, adapter, estimateBytes: need };
  }

  aggregate(updates: readonly StrategyUpdate[]): void {
    if (updates.length === 0 || !this.served || !this.stageAdapter) return;
    this.stageAdapter = foldUpdates(this.stageAdapter, updates, this.served.config);
    this.global = transferStageLora(this.stageAdapter, this.groups, this.env.config.numLayers);
  }

  globalAdapter(): LoraAdapter {
    return this.global;
  }

  /**
   * The stage LoRA is rebuilt from the global adapter (whose group members all hold copies of it),
   * but the stage's grouping is recomputed from the restored adapter, which already carries the
   * stage's training: after a restart mid-stage the groups, and so the fused stage model, may differ
   * from those before it. (Persisting the groups with each round would make the restore exact.)
   */
  restore(global: LoraAdapter): void {
    this.global = global;
    this.stage = -1;
  }

  describe(): string {
    return `stage ${this.stage} (depth ${this.depths[this.stage]}): groups ${this.groups.map((g) => g.join('+')).join(' | ')}`;
  }
}
