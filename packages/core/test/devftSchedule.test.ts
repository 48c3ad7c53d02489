import { test } from 'node:test';
import assert from 'node:assert/strict';
import { devftStageDepths, roundsPerStage } from '../src/federated/devft/stageSchedule';

test('stage depths double each stage and end at the full model', () => {
  assert.deepEqual(devftStageDepths(32, 4), [4, 8, 16, 32]); // the paper's 7B/8B schedule
  assert.deepEqual(devftStageDepths(40, 4), [5, 10, 20, 40]);
  assert.deepEqual(devftStageDepths(6, 3), [2, 3, 6]);
  assert.deepEqual(devftStageDepths(6, 1), [6]);
  assert.deepEqual(devftStageDepths(7, 3), [2, 4, 7]);
});

test('stage depths are strictly increasing, at least 1, at most doubling, deduplicated', () => {
  assert.deepEqual(devftStageDepths(2, 4), [1, 2]);
  assert.deepEqual(devftStageDepths(1, 3), [1]);
  for (let L = 1; L <= 40; L++) for (let S = 1; S <= 6; S++) {
    const d = devftStageDepths(L, S);
    assert.equal(d[d.length - 1], L);
    assert.ok(d[0] >= 1 && d.length <= S);
    for (let i = 1; i < d.length; i++) assert.ok(d[i] > d[i - 1] && d[i] <= 2 * d[i - 1], `${L}/${S}: ${d}`);
  }
});

test('stage depths reject bad arguments', () => {
  assert.throws(() => devftStageDepths(0, 2));
  assert.throws(() => devftStageDepths(4, 0));
  assert.throws(() => devftStageDepths(4.5, 2));
});

test('rounds split equally, the remainder to the last stage', () => {
  assert.deepEqual(roundsPerStage(40, [4, 8, 16, 32]), [10, 10, 10, 10]);
  assert.deepEqual(roundsPerStage(10, [2, 3, 6]), [3, 3, 4]);
  assert.deepEqual(roundsPerStage(3, [2, 3, 6]), [1, 1, 1]);
  assert.deepEqual(roundsPerStage(5, [6]), [5]);
  assert.throws(() => roundsPerStage(2, [2, 3, 6]), /at least one round/);
  assert.throws(() => roundsPerStage(5, []));
});
