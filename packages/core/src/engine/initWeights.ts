import type { LayerWeights, LlamaWeights } from '../model/llamaWeights';
import type { ModelConfig } from '../model/modelConfig';
import { tensor, type Tensor } from '../model/tensor';
import type { SeededRandomLike } from '../model/randomSource';

/** Standard normal draw from a uniform source (Box–Muller). */
function gaussian(rng: SeededRandomLike): number {
  let u = rng.next();
  while (u <= 1e-12) u = rng.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
}

function normal(shape: number[], std: number, rng: SeededRandomLike): Tensor {
  const t = tensor(shape);
  for (let i = 0; i < t.data.length; i++) t.data[i] = std * gaussian(rng);
  return t;
}

function filled(n: number, v: number): Tensor {
  const t = tensor([n]);
  t.data.fill(v);
  return t;
}

/**
 * Fresh weights for pretraining: N(0, std) as HF's initializer_range, with the residual output
 * projections (o, down) scaled by 1/√(2·layers) as in GPT-2 so deep stacks start stable.
 * Norm weights start at 1, biases at 0.
 */
export function initLlamaWeights(cfg: ModelConfig, rng: SeededRandomLike, std = 0.02): LlamaWeights {
  const H = cfg.hiddenSize, F = cfg.intermediateSize, q = cfg.numHeads * cfg.headDim, kv = cfg.numKvHeads * cfg.headDim;
  const resid = std / Math.sqrt(2 * cfg.numLayers);
  const layers: LayerWeights[] = [];
  for (let i = 0; i < cfg.numLayers; i++) {
    const l: LayerWeights = {
      inputNorm: filled(H, 1),
      qProj: normal([q, H], std, rng),
      kProj: normal([kv, H], std, rng),
      vProj: normal([kv, H], std, rng),
      oProj: normal([H, q], resid, rng),
      postNorm: filled(H, 1),
      gateProj: normal([F, H], std, rng),
      upProj: normal([F, H], std, rng),
      downProj: normal([H, F], resid, rng),
    };
    if (cfg.attentionBias) {
      l.qBias = filled(q, 0); l.kBias = filled(kv, 0); l.vBias = filled(kv, 0);
    }
    if (cfg.oProjBias) l.oBias = filled(H, 0);
    if (cfg.mlpBias) {
      l.gateBias = filled(F, 0); l.upBias = filled(F, 0); l.downBias = filled(H, 0);
    }
    layers.push(l);
  }
  const embed = normal([cfg.vocabSize, H], std, rng);
  return { embed, layers, finalNorm: filled(H, 1), lmHead: cfg.tieWordEmbeddings ? embed : normal([cfg.vocabSize, H], std, rng) };
}
