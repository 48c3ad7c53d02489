import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRandom } from '../src/data/seededRandom';

test('a generator rebuilt from state() continues the same sequence (a strategy in a worker thread draws what it would here)', () => {
  const a = new SeededRandom(12345);
  for (let i = 0; i < 7; i++) a.next();
  const b = SeededRandom.fromState(JSON.parse(JSON.stringify(a.state())));
  assert.deepEqual(Array.from({ length: 50 }, () => b.nextUint32()), Array.from({ length: 50 }, () => a.nextUint32()));
  assert.throws(() => SeededRandom.fromState([0, 0, 0, 0]), /not all zero/);
  assert.throws(() => SeededRandom.fromState([1, 2, 3]), /four 32-bit words/);
});
