import { test } from 'node:test';
import assert from 'node:assert/strict';
import { completionBatch, fitToLength } from '../src/training/classificationBatch';

test('fitToLength keeps the whole completion, the start of the prompt and its last tokens', () => {
  const prompt = Array.from({ length: 40 }, (_, i) => i + 1);
  const fitted = fitToLength({ prompt, completion: [99, 98] }, 30);
  assert.equal(fitted.length, 30);
  assert.deepEqual(fitted.slice(0, 12), prompt.slice(0, 12));
  assert.deepEqual(fitted.slice(12, 28), prompt.slice(24));
  assert.deepEqual(fitted.slice(28), [99, 98]);
  assert.deepEqual(fitToLength({ prompt: [1, 2, 3, 4, 5], completion: [9, 8] }, 5), [3, 4, 5, 9, 8]);
  assert.deepEqual(fitToLength({ prompt: [1, 2], completion: [9] }, 10), [1, 2, 9]);
  assert.throws(() => fitToLength({ prompt: [1], completion: [1, 2, 3] }, 3), /does not fit/);
  assert.throws(() => fitToLength({ prompt: [1], completion: [] }, 3), /at least one token/);
});

test('completionBatch counts only completion tokens and pads on the right', () => {
  const b = completionBatch([{ prompt: [5, 6, 7], completion: [8, 9] }, { prompt: [1], completion: [2] }], 16, 0);
  assert.equal(b.B, 2);
  assert.equal(b.T, 4);
  assert.deepEqual(Array.from(b.inputIds), [5, 6, 7, 8, 1, 0, 0, 0]);
  // Row 0: positions 2 and 3 predict 8 and 9; row 1: position 0 predicts 2.
  assert.deepEqual(Array.from(b.targets), [-1, -1, 8, 9, 2, -1, -1, -1]);
});
