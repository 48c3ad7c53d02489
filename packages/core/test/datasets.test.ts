import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SPLIT_NAMES, type ClassificationExample } from '../src/data/task';
import {
  TASK_NAMES,
  assignStratifiedSplits,
  brownDocumentSplits,
  brownPlainText,
  isTaskName,
  loadTask,
  parseEmail,
  type TaskName,
} from '../src/node/datasets';

const key = (e: ClassificationExample) => `${e.label}\u0000${e.text}`;
const normalize = (s: string) => s.replace(/\s+/g, ' ');

test('TASK_NAMES and unknown names', () => {
  assert.deepEqual([...TASK_NAMES], ['spam', 'brown-genre', 'brown-lm', 'sst2', 'agnews']);
  assert.ok(isTaskName('spam') && !isTaskName('mnist'));
  assert.throws(() => loadTask('mnist' as TaskName), /unknown task "mnist"; valid tasks: spam, brown-genre, brown-lm, sst2, agnews/);
  assert.throws(() => brownPlainText('dev' as 'train'), /unknown split/);
});

test('assignStratifiedSplits: stable 80/10/10 per stratum, independent of input order', () => {
  const units = Array.from({ length: 200 }, (_, i) => ({ id: `doc${i}`, stratum: i < 150 ? 'a' : 'b' }));
  const a = assignStratifiedSplits(units, 'salt');
  const b = assignStratifiedSplits(units.slice().reverse(), 'salt');
  assert.deepEqual([...a].sort(), [...b].sort());
  const count = (stratum: string, split: string) => units.filter((u) => u.stratum === stratum && a.get(u.id) === split).length;
  assert.deepEqual([count('a', 'train'), count('a', 'validation'), count('a', 'test')], [120, 15, 15]);
  assert.deepEqual([count('b', 'train'), count('b', 'validation'), count('b', 'test')], [40, 5, 5]);
  const other = assignStratifiedSplits(units, 'other-salt');
  assert.ok(units.some((u) => other.get(u.id) !== a.get(u.id)), 'the salt must matter');
  assert.throws(() => assignStratifiedSplits([{ id: 'x', stratum: 'a' }, { id: 'x', stratum: 'b' }], 's'), /duplicate/);
});

test('parseEmail: subject, body after the headers, MIME parts, HTML stripped, whitespace collapsed', () => {
  const plain = 'From: a@b.c\nSubject: Hello\n  there\n\nLine one.\n\n  Line   two.\n';
  assert.deepEqual(parseEmail(plain), { subject: 'Hello there', body: 'Line one. Line two.' });
  const html =
    'Subject: =?iso-8859-1?Q?Caf=E9_deals?=\nContent-Type: text/html\nContent-Transfer-Encoding: quoted-printable\n\n' +
    '<html><head><title>x</title><style>p{}</style></head><body><p>Buy =\nnow &amp; save</p><!-- c --></body></html>';
  assert.deepEqual(parseEmail(html), { subject: 'Café deals', body: 'Buy now & save' });
  const multipart =
    'Subject: M\nContent-Type: multipart/alternative; boundary="XX"\n\npreamble\n--XX\nContent-Type: text/html\n\n<b>rich</b>\n' +
    '--XX\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\nSGVsbG8gd29ybGQ=\n--XX--\n';
  assert.deepEqual(parseEmail(multipart), { subject: 'M', body: 'Hello world' });
});

test('spam: sizes, label balance, prompts and completions', () => {
  const task = loadTask('spam');
  assert.equal(task.kind, 'classification');
  assert.deepEqual(task.labels, ['ham', 'spam']);
  assert.equal(task.completion(0), ' ham');
  assert.equal(task.completion(1), ' spam');
  assert.throws(() => task.completion(2), /out of range/);
  const all = [...task.train, ...task.validation, ...task.test];
  const spam = all.filter((e) => e.label === 1).length;
  assert.equal(all.length, 6046);
  assert.equal(spam, 1896);
  assert.equal(all.length - spam, 4150);
  // Pinned split sizes: these must never change between runs or machines.
  assert.deepEqual([task.train.length, task.validation.length, task.test.length], [4827, 618, 601]);
  for (const split of SPLIT_NAMES) {
    const rate = task[split].filter((e) => e.label === 1).length / task[split].length;
    assert.ok(rate > 0.27 && rate < 0.36, `${split} spam rate ${rate}`);
  }
  const prompt = task.prompt(task.train[0].text);
  assert.match(prompt, /^Subject: .*\n.+\nSpam or ham\? Answer:$/s);
  for (const e of all) {
    const p = task.prompt(e.text);
    assert.ok(p.length <= 480, `prompt too long (${p.length})`);
    assert.equal(p.split('\n').length, 3);
  }
});

test('spam: splits are disjoint, also for duplicate emails (no prompt in two splits)', () => {
  const task = loadTask('spam');
  const owner = new Map<string, string>();
  for (const split of SPLIT_NAMES) {
    for (const e of task[split]) {
      const p = task.prompt(e.text);
      const prev = owner.get(p);
      assert.ok(prev === undefined || prev === split, `prompt in both ${prev} and ${split}`);
      owner.set(p, split);
    }
  }
});

test('seed changes the order of examples, never the membership of a split', () => {
  const a = loadTask('spam', { seed: 1 });
  const b = loadTask('spam', { seed: 1 });
  const c = loadTask('spam', { seed: 2 });
  assert.deepEqual(a.validation.map(key), b.validation.map(key));
  assert.notDeepEqual(a.validation.map(key), c.validation.map(key));
  for (const split of SPLIT_NAMES) assert.deepEqual(a[split].map(key).sort(), c[split].map(key).sort());
  // Returned arrays are fresh: mutating one load does not affect the next.
  a.train.length = 0;
  assert.equal(loadTask('spam', { seed: 1 }).train.length, 4827);
});

test('brown: document-level split, shared by brown-lm and brown-genre, covering every genre', () => {
  const docs = brownDocumentSplits();
  const all = [...docs.train, ...docs.validation, ...docs.test];
  assert.equal(all.length, 500);
  assert.equal(new Set(all).size, 500);
  assert.deepEqual([docs.train.length, docs.validation.length, docs.test.length], [396, 52, 52]);
  // Pinned: the split must never change.
  assert.deepEqual(docs.validation.slice(0, 4), ['ca17', 'ca19', 'ca24', 'ca31']);
  assert.deepEqual(docs.test.slice(0, 4), ['ca13', 'ca27', 'ca34', 'ca35']);

  const lm = loadTask('brown-lm');
  assert.equal(lm.kind, 'lm');
  for (const split of SPLIT_NAMES) assert.deepEqual(lm[split].slice().sort(), brownPlainText(split).slice().sort());

  const genre = loadTask('brown-genre');
  assert.equal(genre.labels.length, 15);
  for (const split of SPLIT_NAMES) {
    const present = new Set(genre[split].map((e) => e.label));
    assert.equal(present.size, 15, `${split} must contain all 15 genres`);
  }
  // Passages come from documents of their own split only: check a sample against the plain text.
  const text = Object.fromEntries(SPLIT_NAMES.map((s) => [s, normalize(brownPlainText(s).join(' '))])) as Record<string, string>;
  for (const split of ['validation', 'test'] as const) {
    for (const e of genre[split].slice(0, 25)) {
      const passage = normalize(e.text);
      assert.ok(text[split].includes(passage), `${split} passage not found in ${split} documents`);
      assert.ok(!text.train.includes(passage), `${split} passage found in train documents`);
    }
  }
});

test('brown-genre: passages of ~400 chars, prompt format', () => {
  const task = loadTask('brown-genre');
  assert.equal(task.completion(0), ' news');
  assert.equal(task.completion(14), ' humor');
  const lengths = task.train.map((e) => e.text.length).sort((a, b) => a - b);
  const median = lengths[Math.floor(lengths.length / 2)];
  assert.ok(median > 330 && median < 480, `median passage length ${median}`);
  assert.ok(lengths[0] >= 50 && lengths[lengths.length - 1] <= 650, `passage lengths ${lengths[0]}..${lengths[lengths.length - 1]}`);
  const prompt = task.prompt(task.validation[0].text);
  assert.ok(prompt.endsWith('\nGenre:'));
  assert.ok(!/\/[a-z]+(?:-[a-z]+)?\s/.test(task.train[0].text), 'tags must be stripped');
});

test('sst2 keeps its official splits; agnews is split 80/10/10 per class, stably and without overlap', () => {
  const sst2 = loadTask('sst2');
  assert.deepEqual([sst2.train.length, sst2.validation.length, sst2.test.length], [6920, 872, 1821]);
  assert.deepEqual(sst2.labels, ['negative', 'positive']);
  assert.equal(sst2.test.filter((e) => e.label === 1).length, 909);
  const news = loadTask('agnews');
  assert.deepEqual([news.train.length, news.validation.length, news.test.length], [6080, 760, 760]);
  for (const split of [news.train, news.validation, news.test]) {
    const perClass = [0, 1, 2, 3].map((c) => split.filter((e) => e.label === c).length);
    assert.ok(perClass.every((n) => n === split.length / 4), `balanced: ${perClass}`);
  }
  const trainTexts = new Set(news.train.map(key));
  assert.ok(news.test.every((e) => !trainTexts.has(key(e))), 'no test row in train');
  assert.deepEqual(loadTask('agnews', { seed: 5 }).test.map(key).sort(), news.test.map(key).sort(), 'membership does not depend on the seed');
  assert.ok(!/#\d+;|\\/.test(news.train.map((e) => e.text).join(' ')), 'entities and backslash line breaks are cleaned');
  assert.match(news.prompt(news.test[0].text), /\nTopic: world, sports, business or technology\? Answer:$/);
  assert.equal(sst2.completion(1), ' positive');
});
