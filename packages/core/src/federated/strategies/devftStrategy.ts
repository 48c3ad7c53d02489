/**
 * DevFT (Wu et al., arXiv 2508.00041) as a strategy: the run is cut into developmental stages of
 * growing depth (stageSchedule.ts). At each stage start the coordinator groups the full model's
 * layers by parameter similarity, base plus the current LoRA (spectralLayerGrouping.ts), fuses each
 * group into one representative layer (differentialFusion.ts, β) and serves that stage model: a
 * smaller Llama whose fused weights tabs download like any other tensors. Tabs train LoRA on every
 * stage layer (FedAvg of the factors); after each round the stage LoRA is copied to the members of
 * each group (loraTransfer.ts), which is the full-model adapter that is evaluated and that seeds
 * the next, deeper stage. The stage and its groups are the strategy's state, persisted with each
 * round, so a restarted run continues the stage on the same fused model. A tab whose budget cannot hold the stage model sits the stage out (the
 * paper gives every client the same stage model; it does not address tabs smaller than it).
 */
import type { LoraAdapter } from '../../model/lora';
import { fullPlan } from '../../model/submodelPlan';
import { buildStageModel } from '../devft/differentialFusion';
import { stageLoraFromFull, transferStageLora } from '../devft/loraTransfer';
import { layerParameterVectors, spectralLayerGrouping } from '../devft/spectralLayerGrouping';
import { devftStageDepths, roundsPerStage } from '../devft/stageSchedule';
import { foldUpdates } from './foldUpdates';
import { validateLayerGroups } from '../devft/layerGroups';
import {
  seededGlobalAdapter, type ClientOffer, type FederatedStrategy, type ServedModel, type StrategyAssignment, type StrategyEnv,
  type StrategyState, type StrategyUpdate,
} from './federatedStrategy';
import type { StrategyOptions } from './strategyOptions';
import { planPeakBytes } from '../submodelPlanner';

/** What DevFT persists with each round: the stage and its layer groups fix the stage model exactly. */
interface DevftState {
  stage: number;
  groups: number[][];
}

export class DevftStrategy implements FederatedStrategy {
  readonly name = 'devft' as const;
  readonly depths: number[];
  private readonly stageStarts: number[];
  private stage = -1;
  private groups: number[][] = [];
  private served: ServedModel | undefined;

  constructor(private readonly env: StrategyEnv, private readonly opts: StrategyOptions) {
    const L = env.config.numLayers;
    // A run shorter than the schedule gets fewer stages (each stage needs a round).
    this.depths = devftStageDepths(L, Math.max(1, Math.min(opts.devftStages, env.totalRounds)));
    const per = roundsPerStage(env.totalRounds, this.depths);
    this.stageStarts = per.map((_, i) => per.slice(0, i).reduce((a, b) => a + b, 0));
  }

  initialGlobal(): LoraAdapter {
    return seededGlobalAdapter(this.env);
  }

  /** The stage a round belongs to. */
  stageOf(round: number): number {
    let s = 0;
    while (s + 1 < this.stageStarts.length && round >= this.stageStarts[s + 1]) s++;
    return s;
  }

  configureRound(round: number, global: LoraAdapter, clients: readonly ClientOffer[]): StrategyAssignment[] {
    const s = this.stageOf(round);
    if (s !== this.stage) {
      // Similarity of the layers as they are now: base plus the LoRA learnt in earlier stages.
      const vectors = layerParameterVectors(this.env.config, this.env.weights, global);
      this.enterStage(s, spectralLayerGrouping(vectors, this.depths[s], { seed: this.env.seed + s }));
    }
    const served = this.served!;
    const plan = fullPlan(served.config);
    const need = planPeakBytes({ ...this.env, config: served.config, weightFormat: 'f32', vocabFormat: 'f32' }, plan); // stage models are float32
    // Every group member holds a copy of its stage layer's LoRA (transferStageLora), so the anchor's is the stage LoRA.
    const adapter = stageLoraFromFull(global, this.groups);
    return clients.map((client) => need > client.budgetBytes
      ? { ...client, excluded: `DevFT stage ${this.stage} model (${served.config.numLayers} fused layers) needs ${need} B`, minBytes: need }
      : { ...client, model: served, plan, adapter, estimateBytes: need });
  }

  aggregate(global: LoraAdapter, updates: readonly StrategyUpdate[]): LoraAdapter {
    if (updates.length === 0 || !this.served) return global;
    const stageAdapter = foldUpdates(stageLoraFromFull(global, this.groups), updates, this.served.config, this.env.aggregation);
    return transferStageLora(stageAdapter, this.groups, this.env.config.numLayers);
  }

  snapshot(): StrategyState {
    return this.stage < 0 ? null : { stage: this.stage, groups: this.groups.map((g) => [...g]) } satisfies DevftState;
  }

  /**
   * A restart continues the stage with the groups it had, so the fused stage model is the same as
   * before; without a stored state (a run from before states were kept) the next round regroups.
   */
  restore(_global: LoraAdapter, state: StrategyState | undefined): void {
    this.stage = -1;
    this.served = undefined;
    if (!state) return;
    const st = state as Partial<DevftState>;
    const L = this.env.config.numLayers;
    if (!Number.isInteger(st.stage) || st.stage! < 0 || st.stage! >= this.depths.length || !Array.isArray(st.groups)) {
      throw new Error(`DevFT: stored state ${JSON.stringify(state).slice(0, 200)} is not a stage of this run's ${this.depths.length}`);
    }
    validateLayerGroups(st.groups, L);
    if (st.groups.length !== this.depths[st.stage!]) throw new Error(`DevFT: stored stage ${st.stage} has ${st.groups.length} groups, its depth is ${this.depths[st.stage!]}`);
    this.enterStage(st.stage!, st.groups);
  }

  private enterStage(stage: number, groups: number[][]): void {
    this.stage = stage;
    this.groups = groups;
    const fused = buildStageModel(this.env.config, this.env.weights, groups, this.opts.devftBeta);
    this.served = { key: `devft-stage${stage}`, config: fused.config, weights: fused.weights, weightFormat: 'f32' };
  }

  describe(): string {
    return `stage ${this.stage} (depth ${this.depths[this.stage]}): groups ${this.groups.map((g) => g.join('+')).join(' | ')}`;
  }
}
