import { DevftStrategy } from './devftStrategy';
import { FedsodaStrategy } from './fedsodaStrategy';
import { FlexLoraStrategy } from './flexLoraStrategy';
import { STRATEGY_NAMES, type FederatedStrategy, type StrategyEnv, type StrategyName } from './federatedStrategy';
import { createLayerwiseStrategy } from './layerwiseStrategy';
import { DEFAULT_STRATEGY_OPTIONS, type StrategyOptions } from './strategyOptions';

/** A fresh strategy of the given name. */
export function createStrategy(name: StrategyName, env: StrategyEnv, opts: Partial<StrategyOptions> = {}): FederatedStrategy {
  const o = { ...DEFAULT_STRATEGY_OPTIONS, ...opts };
  if (name === 'devft') return new DevftStrategy(env, o);
  if (name === 'fedsoda') return new FedsodaStrategy(env, o);
  if (name === 'flexlora') return new FlexLoraStrategy(env);
  const s = createLayerwiseStrategy(name, env, o);
  if (!s) throw new Error(`unknown strategy "${String(name)}"; valid strategies: ${STRATEGY_NAMES.join(', ')}`);
  return s;
}
