import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { loadTokenizerDir } from '../src/node/tokenizerFile';
import { LocalDataError, localFileFormat, parseLocalTrainingFile } from '../src/training/localTrainingFile';
import { localAssignmentBatches, localTrainingRows, tokenizeLocalExamples, type LocalRow } from '../src/training/localTextBatches';

const tok = await loadTokenizerDir(fileURLToPath(new URL('../../../models/tiny-brown-llama', import.meta.url)));
const SEP = tok.eosId!;
const EOT = tok.decode([SEP]);
const TEXT = 'The jury said it did find that the city executive committee, which had over-all charge of the election, ' +
  'deserves the praise and thanks of the City of Atlanta for the manner in which the election was conducted.\n' +
  'It urged that the next Legislature provide enabling funds.';

/** Tokens a row trains on, in order: its inputs up to the last target, then that target. */
function rowTokens(r: LocalRow): number[] {
  let last = -1;
  r.targets.forEach((t, i) => { if (t !== -1) last = i; });
  return last < 0 ? [] : [...r.inputIds.slice(0, last + 1), r.targets[last]];
}

function rowsOf(name: string, content: string, seqLen: number): LocalRow[] {
  return localTrainingRows(tokenizeLocalExamples(parseLocalTrainingFile(name, content), (s) => tok.encode(s)), { seqLen, separatorId: SEP, padId: SEP });
}

test('a plain-text file becomes packed LM windows that decode back to the file', () => {
  const T = 16;
  const rows = rowsOf('notes.txt', TEXT, T);
  for (const r of rows) {
    assert.equal(r.inputIds.length, T);
    assert.equal(r.targets.length, T);
  }
  // Windows overlap by one token: row k's tokens start with row k-1's last target.
  const stream: number[] = [];
  rows.forEach((r, k) => {
    const toks = rowTokens(r);
    // Within a row each target is the next input (the causal-LM shift).
    for (let t = 0; t + 1 < toks.length - 1; t++) assert.equal(r.targets[t], r.inputIds[t + 1]);
    if (k < rows.length - 1) assert.equal(toks.length, T + 1, 'only the last window is short');
    stream.push(...(k === 0 ? toks : toks.slice(1)));
  });
  assert.equal(tok.decode(stream), EOT + TEXT);
  // Padding of the last row: pad ids, no targets.
  const last = rows[rows.length - 1], n = rowTokens(last).length - 1;
  assert.ok(last.targets.slice(n).every((t) => t === -1));
});

test('JSONL: text lines are packed with separators, prompt/completion rows target only the completion', () => {
  const T = 24;
  const lines = [
    JSON.stringify({ text: 'The Fulton County Grand Jury said Friday.' }),
    '',
    JSON.stringify({ prompt: 'Is this spam? Win money now!\nAnswer:', completion: ' spam' }),
    JSON.stringify({ text: 'Only a relative handful of such reports was received.' }),
    JSON.stringify({ prompt: '', completion: ' ham' }),
  ];
  const rows = rowsOf('data.jsonl', lines.join('\r\n') + '\n', T);
  // The packed LM windows come first, then one row per prompt/completion line.
  const lm = rows.slice(0, rows.length - 2), pc = rows.slice(rows.length - 2);
  const stream = lm.flatMap((r, k) => (k === 0 ? rowTokens(r) : rowTokens(r).slice(1)));
  assert.equal(tok.decode(stream), `${EOT}The Fulton County Grand Jury said Friday.${EOT}Only a relative handful of such reports was received.`);

  const [spam, ham] = pc;
  assert.equal(tok.decode(rowTokens(spam)), 'Is this spam? Win money now!\nAnswer: spam');
  assert.equal(tok.decode([...spam.targets].filter((t) => t !== -1)), ' spam');
  // Targets sit exactly on the positions that predict the completion tokens.
  const nc = tok.encode(' spam').length, np = tok.encode('Is this spam? Win money now!\nAnswer:').length;
  spam.targets.forEach((t, i) => assert.equal(t !== -1, i >= np - 1 && i < np - 1 + nc, `position ${i}`));
  // An empty prompt is the separator, so the first completion token is still predicted.
  assert.equal(tok.decode(rowTokens(ham)), `${EOT} ham`);
  assert.equal(tok.decode([...ham.targets].filter((t) => t !== -1)), ' ham');
  for (const r of rows) assert.equal(r.inputIds.length, T);
});

test('malformed JSONL is refused with the line that is wrong', () => {
  const cases: [string, number, RegExp][] = [
    ['{"text": "ok"}\n{"text": "fine"}\n{"text": broken}\n', 3, /data\.jsonl line 3: not valid JSON/],
    ['{"text": "ok"}\n\n["a"]\n', 3, /line 3: expected a JSON object .* got an array/],
    ['{"prompt": "q"}\n', 1, /line 1: "completion" must be a non-empty string/],
    ['{"text": "a"}\n{"input": "q", "output": "a"}', 2, /line 2: expected .* got keys "input", "output"/],
    ['{"text": "a", "prompt": "b", "completion": "c"}', 1, /line 1: has both/],
    ['{"text": ""}', 1, /line 1: "text" must be a non-empty string/],
  ];
  for (const [content, line, re] of cases) {
    assert.throws(() => parseLocalTrainingFile('data.jsonl', content), (e: unknown) => e instanceof LocalDataError && e.line === line && re.test(e.message), content);
  }
  assert.throws(() => parseLocalTrainingFile('data.jsonl', '\n \n'), /no examples/);
  assert.throws(() => parseLocalTrainingFile('a.txt', '  \n'), /holds no text/);
  assert.throws(() => localFileFormat('data.csv'), /\.txt.*\.jsonl/);
  assert.equal(localFileFormat('NOTES.TXT'), 'text');
});

test('a completion longer than the sequence is refused naming its line', () => {
  const long = 'word '.repeat(40);
  const content = `{"text": "fine"}\n{"prompt": "p", "completion": ${JSON.stringify(long)}}\n`;
  assert.throws(() => rowsOf('d.jsonl', content, 8), (e: unknown) => e instanceof LocalDataError && e.line === 2 && /line 2: the completion has \d+ tokens; at most 8 fit/.test(e.message));
});

test('assignment batches walk through the row pool round after round and repeat a small pool', () => {
  const T = 3;
  const pool: LocalRow[] = Array.from({ length: 5 }, (_, k) => ({ inputIds: Int32Array.from([k, k, k]), targets: Int32Array.from([k, -1, k]) }));
  const shape = { steps: 2, batch: 2, seqLen: T };
  for (const round of [0, 1, 2, 7, 2 ** 40]) {
    const b = localAssignmentBatches(pool, { ...shape, round });
    assert.equal(b.inputIds.length, 4 * T);
    assert.equal(b.numSamples, 4);
    // Brute force with exact big integers: row i is pool[(round * 4 + i) mod 5].
    for (let i = 0; i < 4; i++) {
      const k = Number((BigInt(round) * 4n + BigInt(i)) % 5n);
      assert.deepEqual([...b.inputIds.slice(i * T, (i + 1) * T)], [k, k, k], `round ${round} row ${i}`);
      assert.deepEqual([...b.targets.slice(i * T, (i + 1) * T)], [k, -1, k]);
    }
  }
  const small = localAssignmentBatches(pool.slice(0, 2), { steps: 3, batch: 1, seqLen: T, round: 0 });
  assert.deepEqual([...small.inputIds].filter((_, j) => j % T === 0), [0, 1, 0]);
  assert.equal(small.numSamples, 2);
  assert.throws(() => localAssignmentBatches(pool, { ...shape, seqLen: 4, round: 0 }), /rebuild the rows/);
  assert.throws(() => localAssignmentBatches(pool, { ...shape, steps: 0, round: 0 }), /steps must be a positive integer/);
});
