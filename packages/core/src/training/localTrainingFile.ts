/**
 * A training file a volunteer picks on their own machine: plain text (one document), or JSONL
 * with one example per line, either {"text": ...} (language modelling) or
 * {"prompt": ..., "completion": ...} (only the completion is learned). Parsed here, in the tab;
 * the file itself never leaves it.
 */

/** One example of a local file; `line` is 1-based (JSONL) so that later errors can name it. */
export type LocalExample =
  | { kind: 'text'; text: string; line?: number }
  | { kind: 'completion'; prompt: string; completion: string; line: number };

export type LocalFileFormat = 'text' | 'jsonl';

/** File name endings a volunteer may pick, and how each is read. */
export const LOCAL_FILE_EXTENSIONS: Readonly<Record<string, LocalFileFormat>> = { '.txt': 'text', '.text': 'text', '.md': 'text', '.jsonl': 'jsonl' };

/** Largest local file a tab tokenizes (tokenizing runs on the page at about 2 MB/s). */
export const MAX_LOCAL_FILE_BYTES = 8 * 1024 * 1024;

/** A local file that cannot be trained on; `line` (1-based) names the JSONL line at fault. */
export class LocalDataError extends Error {
  override name = 'LocalDataError';
  constructor(message: string, readonly line?: number) {
    super(message);
  }
}

/** How a file is read, from its name. @throws LocalDataError naming the accepted endings. */
export function localFileFormat(fileName: string): LocalFileFormat {
  const lower = fileName.toLowerCase();
  for (const [ext, format] of Object.entries(LOCAL_FILE_EXTENSIONS)) if (lower.endsWith(ext)) return format;
  throw new LocalDataError(`${fileName}: pick a plain-text file (${Object.keys(LOCAL_FILE_EXTENSIONS).filter((e) => LOCAL_FILE_EXTENSIONS[e] === 'text').join(', ')}) or a JSONL file (.jsonl)`);
}

const SHAPES = '{"text": "..."} or {"prompt": "...", "completion": "..."}';

function parseJsonlLine(raw: string, line: number, where: string): LocalExample {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (e) {
    throw new LocalDataError(`${where} line ${line}: not valid JSON (${(e as Error).message}); each line must be ${SHAPES}`, line);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new LocalDataError(`${where} line ${line}: expected a JSON object ${SHAPES}, got ${Array.isArray(v) ? 'an array' : v === null ? 'null' : typeof v}`, line);
  }
  const o = v as Record<string, unknown>;
  const hasText = 'text' in o, hasPair = 'prompt' in o || 'completion' in o;
  if (hasText && hasPair) throw new LocalDataError(`${where} line ${line}: has both "text" and "prompt"/"completion"; use one shape, ${SHAPES}`, line);
  if (hasText) {
    if (typeof o.text !== 'string' || o.text.length === 0) throw new LocalDataError(`${where} line ${line}: "text" must be a non-empty string`, line);
    return { kind: 'text', text: o.text, line };
  }
  if (hasPair) {
    if (typeof o.prompt !== 'string') throw new LocalDataError(`${where} line ${line}: "prompt" must be a string (it may be empty)`, line);
    if (typeof o.completion !== 'string' || o.completion.length === 0) throw new LocalDataError(`${where} line ${line}: "completion" must be a non-empty string`, line);
    return { kind: 'completion', prompt: o.prompt, completion: o.completion, line };
  }
  throw new LocalDataError(`${where} line ${line}: expected ${SHAPES}, got keys ${Object.keys(o).map((k) => JSON.stringify(k)).join(', ') || '(none)'}`, line);
}

/**
 * The examples of a local file: a plain-text file is one document; a JSONL file gives one example
 * per non-blank line.
 * @throws LocalDataError for an unknown file type, a file without text, or a malformed JSONL line (named).
 */
export function parseLocalTrainingFile(fileName: string, content: string): LocalExample[] {
  const format = localFileFormat(fileName);
  if (format === 'text') {
    if (content.trim().length === 0) throw new LocalDataError(`${fileName}: the file holds no text`);
    return [{ kind: 'text', text: content }];
  }
  const examples: LocalExample[] = [];
  content.split('\n').forEach((raw, i) => {
    if (raw.trim().length > 0) examples.push(parseJsonlLine(raw, i + 1, fileName));
  });
  if (examples.length === 0) throw new LocalDataError(`${fileName}: the file has no examples (every line is blank); each line must be ${SHAPES}`);
  return examples;
}
