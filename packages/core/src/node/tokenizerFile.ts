/**
 * Node-only tokenizer file I/O: a Hugging Face tokenizer lives in a directory as
 * tokenizer.json (required) + tokenizer_config.json (optional), the same layout as a Hub repo.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TextTokenizer } from '../tokenizer/textTokenizer';
import { importGgufFiles, readGgufFile } from './ggufFile';

async function readJson(path: string): Promise<unknown> {
  const text = await readFile(path, 'utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new Error(`${path} is not valid JSON: ${(e as Error).message}`);
  }
}

function isNotFound(e: unknown): boolean {
  return (e as NodeJS.ErrnoException | null)?.code === 'ENOENT';
}

/**
 * Loads `dir/tokenizer.json` (+ `dir/tokenizer_config.json` when present) as a TextTokenizer;
 * `dir` may also be a .gguf file, whose embedded tokenizer is converted.
 * @throws Error naming the expected path when tokenizer.json is missing, or what is wrong with it.
 */
export async function loadTokenizerDir(dir: string): Promise<TextTokenizer> {
  if (dir.endsWith('.gguf')) {
    const { tokenizerJson, tokenizerConfig } = importGgufFiles(await readGgufFile(dir));
    return new TextTokenizer(tokenizerJson, tokenizerConfig);
  }
  const jsonPath = join(dir, 'tokenizer.json');
  let tokenizerJson: unknown;
  try {
    tokenizerJson = await readJson(jsonPath);
  } catch (e) {
    if (isNotFound(e)) {
      throw new Error(
        `No tokenizer found: ${jsonPath} does not exist. Point to a directory holding a Hugging Face ` +
          'tokenizer.json (e.g. a downloaded model repo), or train one with trainByteLevelBpe and save it there.',
      );
    }
    throw e;
  }
  const configPath = join(dir, 'tokenizer_config.json');
  let tokenizerConfig: unknown;
  try {
    tokenizerConfig = await readJson(configPath);
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
  try {
    return new TextTokenizer(tokenizerJson, tokenizerConfig);
  } catch (e) {
    throw new Error(`${dir}: ${(e as Error).message}`);
  }
}

/**
 * Writes tokenizer.json (+ tokenizer_config.json if given) into `dir`, creating it if needed,
 * so that loadTokenizerDir and Hugging Face `AutoTokenizer.from_pretrained(dir)` can read it.
 */
export async function saveTokenizerDir(dir: string, tokenizerJson: object, tokenizerConfig?: object): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson, null, 2) + '\n');
  if (tokenizerConfig !== undefined) {
    await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig, null, 2) + '\n');
  }
}
