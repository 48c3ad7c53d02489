import type { WeightFormat } from '../../model/weightQuantization';
import type { LayerPick, PlanGranularity } from '../submodelPlanner';

/** Per-method knobs (defaults in DEFAULT_STRATEGY_OPTIONS; each documented where it is used). */
export interface StrategyOptions {
  /** Budget planner: whole layers or attention / MLP sub-blocks (submodelPlanner.ts). */
  granularity: PlanGranularity;
  /** Budget planner: the most important units that fit, or units sampled by importance. */
  layerPick: LayerPick;
  /** DevFT: number of developmental stages (depths double up to the full model). */
  devftStages: number;
  /** DevFT: differential fusion coefficient β (the paper: 0.1; 0.15 for 13B). */
  devftBeta: number;
  /** FedSODA: storage of the tabs' frozen sub-model. */
  fedsodaFormat: WeightFormat;
  /** FedSODA: distillation steps per alignment and their learning rate. */
  fedsodaAlignSteps: number;
  fedsodaAlignLr: number;
  /**
   * FedSODA: re-align every this many rounds with the current global adapter (0: never again; a
   * tier first seen after round 0 is aligned when first needed, with the adapter of that round).
   */
  fedsodaRealignEvery: number;
}

export const DEFAULT_STRATEGY_OPTIONS: StrategyOptions = {
  granularity: 'layers',
  layerPick: 'sample',
  devftStages: 4,
  devftBeta: 0.1,
  fedsodaFormat: 'int4',
  fedsodaAlignSteps: 20,
  fedsodaAlignLr: 1e-3,
  fedsodaRealignEvery: 2,
};
