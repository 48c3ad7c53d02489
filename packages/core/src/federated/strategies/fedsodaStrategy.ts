/**
 * FedSODA (Zhu et al., arXiv 2508.12727) as a strategy. Only the abstract is public; the lineage is
 * FedBiOT / offsite-tuning. Our reading, with the unpublished choices marked:
 * - Similarity group pruning (SGP): for a tab that holds K layers, cut the layer chain into K
 *   contiguous groups of similar layers (CKA of layer outputs, contiguousLayerGroups.ts) and keep
 *   the most important layer of each (loss-on-skip), deterministically: the sub-model is a fixed
 *   "sub-LLM" per memory tier, not resampled per round (that is FedPruner's behaviour).
 * - Orchestrated distillation alignment (ODA): the coordinator distils the full model into the
 *   sub-model's kept layers on public calibration data (distillationAlignment.ts), before round 0
 *   and again every `fedsodaRealignEvery` rounds with the current global adapter applied to both
 *   teacher and student (our schedule), so the sub-model keeps tracking the adapted full model.
 * - The tab holds the aligned sub-model quantized (int8 / int4, weightQuantization.ts) and trains
 *   LoRA on it (QLoRA); the tab's numbers are computed on the quantize-dequantize image, which is
 *   exactly what the WGSL dequantizing matmuls compute. LoRA of kept layer i plugs into layer i of
 *   the full model, where it is evaluated (offsite-tuning's plug-in).
 */
import { LlamaModel } from '../../engine/llamaModel';
import type { LoraAdapter } from '../../model/lora';
import { planKeepingLayers, type SubmodelPlan } from '../../model/submodelPlan';
import { loraForPlan } from '../../model/peftAdapter';
import { fakeQuantizeWeights } from '../../model/weightQuantization';
import { alignSubmodel } from '../fedsoda/distillationAlignment';
import { contiguousLayerGroups } from './contiguousLayerGroups';
import { foldUpdates } from './foldUpdates';
import { mostImportantPerGroup } from './depthPlans';
import {
  seededGlobalAdapter, type ClientOffer, type FederatedStrategy, type ServedModel, type StrategyAssignment, type StrategyEnv,
  type StrategyState, type StrategyUpdate,
} from './federatedStrategy';
import { maxLayersForBudget, planPeakBytes, type PlanMemoryShape } from '../submodelPlanner';
import type { StrategyOptions } from './strategyOptions';

export interface AlignmentRecord {
  round: number;
  layers: number[];
  klBefore: number;
  klAfter: number;
}

export class FedsodaStrategy implements FederatedStrategy {
  readonly name = 'fedsoda' as const;
  private readonly teacher: LlamaModel;
  private readonly shape: PlanMemoryShape;
  /** Aligned, quantized sub-models by kept-layer count, for the current alignment epoch. */
  private readonly subModels = new Map<number, { plan: SubmodelPlan; served: ServedModel }>();
  private epoch = -1;
  /** The round being configured and its global adapter: a sub-model built now aligns to it (the teacher's LoRA). */
  private current: { round: number; lora: LoraAdapter } | undefined;
  readonly alignments: AlignmentRecord[] = [];

  constructor(private readonly env: StrategyEnv, private readonly opts: StrategyOptions) {
    this.teacher = new LlamaModel(env.config, env.weights, env.seqLen);
    this.shape = { ...env, weightFormat: opts.fedsodaFormat, vocabFormat: 'f32' }; // its sub-models are derived in float32, then packed
  }

  initialGlobal(): LoraAdapter {
    return seededGlobalAdapter(this.env);
  }

  configureRound(round: number, global: LoraAdapter, clients: readonly ClientOffer[]): StrategyAssignment[] {
    const every = this.opts.fedsodaRealignEvery;
    const epoch = every > 0 ? Math.floor(round / every) : 0;
    // A new epoch drops the aligned sub-models; each is rebuilt when a tab of its tier next needs it.
    if (epoch !== this.epoch) {
      this.epoch = epoch;
      this.subModels.clear();
    }
    this.current = { round, lora: global };
    return clients.map((client) => {
      const k = maxLayersForBudget(this.shape, client.budgetBytes);
      if (k === 0) {
        const one = planPeakBytes(this.shape, planKeepingLayers([0]));
        return { ...client, excluded: `one ${this.opts.fedsodaFormat} layer needs ${one} B`, minBytes: one };
      }
      const { plan, served } = this.subModel(k);
      return { ...client, model: served, plan, adapter: loraForPlan(global, plan), estimateBytes: planPeakBytes(this.shape, plan) };
    });
  }

  /** SGP: the kept layers of a K-layer sub-model. */
  keptLayers(k: number): number[] {
    const groups = contiguousLayerGroups(this.env.layerSimilarity, k);
    return mostImportantPerGroup(groups, (i) => this.env.importance[i].layer).sort((a, b) => a - b);
  }

  private subModel(k: number): { plan: SubmodelPlan; served: ServedModel } {
    let m = this.subModels.get(k);
    if (m) return m;
    const { config: cfg, weights } = this.env;
    const plan = planKeepingLayers(this.keptLayers(k));
    const teacher = this.current!;
    // Round 0's adapter is the untrained seed (B = 0): the plain base model is the teacher.
    const teacherLora = teacher.round > 0 ? teacher.lora : undefined;
    const r = alignSubmodel({
      teacher: this.teacher, teacherLora, config: cfg, weights, plan, batches: [...this.env.publicBatches],
      steps: this.opts.fedsodaAlignSteps, lr: this.opts.fedsodaAlignLr, rngSeed: this.env.seed + this.epoch,
    });
    this.alignments.push({ round: teacher.round, layers: plan.layers.map((l) => l.index), klBefore: r.klBefore, klAfter: r.klAfter });
    const served: ServedModel = {
      key: `fedsoda-k${k}-e${this.epoch}-${this.opts.fedsodaFormat}`, config: cfg,
      weights: fakeQuantizeWeights(cfg, r.weights, this.opts.fedsodaFormat), weightFormat: this.opts.fedsodaFormat,
    };
    m = { plan, served };
    this.subModels.set(k, m);
    return m;
  }

  aggregate(global: LoraAdapter, updates: readonly StrategyUpdate[]): LoraAdapter {
    return foldUpdates(global, updates, this.env.config, this.env.aggregation);
  }

  /**
   * Nothing persisted: the aligned sub-models are large and follow from the epoch's teacher
   * adapter. A restart mid-epoch re-aligns them against the restored (later) adapter, so they
   * differ from those before it; the alignment is deterministic for a given adapter.
   */
  snapshot(): StrategyState {
    return null;
  }

  restore(): void {
    this.epoch = -1;
    this.subModels.clear();
    this.current = undefined;
  }

  describe(): string {
    const last = this.alignments.slice(-3).map((a) => `layers ${a.layers.join(',')}: KL ${a.klBefore.toFixed(4)} -> ${a.klAfter.toFixed(4)}`);
    return `fedsoda ${this.opts.fedsodaFormat}; alignments: ${last.join('; ') || 'none yet'}`;
  }
}
