import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crossEntropy, IGNORE_INDEX, softCrossEntropy } from '../src/engine/crossEntropy';
import { rngFrom } from './fixtures/tinyModel';

function randomLogits(n: number, seed: number, scale: number): Float64Array {
  const rng = rngFrom(seed);
  return Float64Array.from({ length: n }, () => (rng.next() * 2 - 1) * scale);
}

const N = 5, V = 7;
// Row 2 does not count; the other target ids are arbitrary (only the mask matters).
const targets = Int32Array.from([3, 0, IGNORE_INDEX, 6, 1]);

for (const tau of [1, 0.7, 2.5]) {
  test(`softCrossEntropy gradient matches central differences (τ=${tau})`, () => {
    const student = randomLogits(N * V, 1, 3), teacher = randomLogits(N * V, 2, 3);
    const grad = student.slice();
    const scale = 0.37;
    const r = softCrossEntropy(grad, teacher, targets, N, V, tau, scale);
    assert.equal(r.count, 4);
    const f = (x: Float64Array) => softCrossEntropy(x, teacher, targets, N, V, tau).lossSum * scale;
    const h = 1e-6;
    let worst = 0;
    for (let j = 0; j < N * V; j++) {
      const p = student.slice(), m = student.slice();
      p[j] += h; m[j] -= h;
      const num = (f(p) - f(m)) / (2 * h);
      worst = Math.max(worst, Math.abs(num - grad[j]));
    }
    assert.ok(worst < 1e-8, `worst abs error ${worst}`);
    for (let v = 0; v < V; v++) assert.equal(grad[2 * V + v], 0, 'uncounted row has zero gradient');
    // KL = CE − H(teacher) ≥ 0, and both forms agree.
    assert.ok(Math.abs(r.klSum - (r.lossSum - r.teacherEntropySum)) < 1e-12);
    assert.ok(r.klSum > 0);
  });
}

test('softCrossEntropy with a one-hot-like teacher reduces to crossEntropy', () => {
  const student = randomLogits(N * V, 3, 2);
  const teacher = new Float64Array(N * V).fill(-1e4);
  for (let n = 0; n < N; n++) if (targets[n] !== IGNORE_INDEX) teacher[n * V + targets[n]] = 0;
  const soft = softCrossEntropy(student, teacher, targets, N, V);
  const hard = crossEntropy(student.slice(), targets, N, V);
  assert.ok(Math.abs(soft.lossSum - hard.lossSum) < 1e-12, `${soft.lossSum} vs ${hard.lossSum}`);
  assert.ok(Math.abs(soft.teacherEntropySum) < 1e-12);
});

test('softCrossEntropy of identical distributions: KL 0, gradient 0', () => {
  const x = randomLogits(N * V, 4, 5);
  const g = x.slice();
  const r = softCrossEntropy(g, x, targets, N, V, 1.3, 1);
  assert.equal(r.klSum, 0);
  assert.ok(Math.abs(r.lossSum - r.teacherEntropySum) < 1e-12);
  assert.ok(g.every((v) => v === 0));
});
