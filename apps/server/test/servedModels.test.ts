// Derived models stay servable while a task of this round or the last one may fetch them, however
// many a round hands out, and are dropped once no such task can.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initLlamaWeights, SeededRandom, type ServedModel } from '@fedllm/core';
import { ModelParts } from '../src/coordinator/modelParts';
import { ServedModels } from '../src/coordinator/servedModels';
import { TINY_MODEL as config } from './storage/storageFixtures';

const derived = (k: number): ServedModel => ({ key: `tier-${k}`, config, weights: initLlamaWeights(config, new SeededRandom(k)), weightFormat: 'f32' });

test('served models: every model a round hands out stays servable, models unused for two rounds are dropped', () => {
  const base = ModelParts.build(config, initLlamaWeights(config, new SeededRandom(0)), '{}', undefined);
  const served = new ServedModels(base, undefined);
  assert.equal(served.partsFor({ ...derived(0), key: 'base' }), base);

  served.beginRound(0);
  const round0 = Array.from({ length: 12 }, (_, k) => served.partsFor(derived(k)));
  assert.equal(new Set(round0.map((p) => p.id)).size, 12, 'distinct weights give distinct content ids');
  for (const p of round0) assert.equal(served.byId(p.id), p, `model ${p.id} of round 0 is still served`);

  served.beginRound(1);
  const kept = served.partsFor(derived(3));
  assert.equal(kept, round0[3], 'a model asked for again is the same parts, not rebuilt');
  for (const p of round0) assert.equal(served.byId(p.id), p, 'a straggler of round 0 can still fetch its model in round 1');

  served.beginRound(2);
  assert.equal(served.byId(kept.id), kept, 'used in round 1');
  for (const [k, p] of round0.entries()) if (k !== 3) assert.equal(served.byId(p.id), undefined, `model ${k} unused since round 0 is dropped`);
  served.beginRound(4);
  assert.equal(served.byId(kept.id), undefined);
});
