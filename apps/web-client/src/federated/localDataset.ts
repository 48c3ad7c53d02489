/**
 * A file the volunteer picked, as the LocalBatchSource of VolunteerClient: parsed when picked,
 * tokenized with the run's tokenizer when the first local-data assignment arrives, then cut into
 * each assignment's steps × batch rows of seqLen tokens. The file's content stays in this tab;
 * only the tokenizer is fetched, and only the trained adapter is sent (by VolunteerClient).
 */
import {
  LocalDataError, localAssignmentBatches, localTrainingRows, MAX_LOCAL_FILE_BYTES, parseLocalTrainingFile, tokenizeLocalExamples,
  type Assignment, type LocalBatches, type LocalExample, type LocalRow, type ModelConfig, type TokenizedLocalExample,
} from '@fedllm/core';
import type { LocalBatchSource } from './volunteerClient';
import { fetchTokenizer } from './remoteTokenizer';

export { LocalDataError, MAX_LOCAL_FILE_BYTES };

export interface LocalDatasetOptions {
  /** Coordinator origin prefixed to the tokenizer URL (default: this page's). */
  baseUrl?: string;
  /** Called with the bytes of each tokenizer download, for the page's traffic figures. */
  onFetched?: (bytes: number) => void;
}

/** How much a picked file holds, for the page. */
export interface LocalDatasetSummary {
  fileName: string;
  bytes: number;
  textExamples: number;
  completionExamples: number;
}

export class LocalDataset {
  private readonly tokenized = new Map<string, TokenizedLocalExample[]>();
  private readonly rows = new Map<string, LocalRow[]>();

  private constructor(
    readonly fileName: string,
    private readonly bytes: number,
    private readonly examples: LocalExample[],
    private readonly o: LocalDatasetOptions,
  ) {}

  /**
   * Parses file content (plain text or JSONL, by the file name's ending).
   * @throws LocalDataError for an unsupported file, one above MAX_LOCAL_FILE_BYTES, or a malformed JSONL line (named).
   */
  static fromText(fileName: string, content: string, o: LocalDatasetOptions = {}): LocalDataset {
    const bytes = new TextEncoder().encode(content).byteLength;
    if (bytes > MAX_LOCAL_FILE_BYTES) {
      throw new LocalDataError(`${fileName}: ${bytes} bytes is more than this page tokenizes (${MAX_LOCAL_FILE_BYTES} bytes); pick a smaller file or a part of it`);
    }
    return new LocalDataset(fileName, bytes, parseLocalTrainingFile(fileName, content), o);
  }

  /** Reads a picked file (checking its size before reading it). */
  static async fromFile(file: File, o: LocalDatasetOptions = {}): Promise<LocalDataset> {
    if (file.size > MAX_LOCAL_FILE_BYTES) {
      throw new LocalDataError(`${file.name}: ${file.size} bytes is more than this page tokenizes (${MAX_LOCAL_FILE_BYTES} bytes); pick a smaller file or a part of it`);
    }
    return LocalDataset.fromText(file.name, await file.text(), o);
  }

  summary(): LocalDatasetSummary {
    const completionExamples = this.examples.filter((e) => e.kind === 'completion').length;
    return { fileName: this.fileName, bytes: this.bytes, textExamples: this.examples.length - completionExamples, completionExamples };
  }

  /** The batches of one assignment, for VolunteerClient's localBatches option. */
  readonly batchSource: LocalBatchSource = (a, config) => this.batches(a, config);

  /**
   * steps × batch rows of exactly seqLen tokens for `a`; successive rounds continue through the file.
   * @throws LocalDataError when the file does not fit the assignment (a completion longer than seqLen,
   *   ids outside the model's vocabulary); Error when the tokenizer cannot be fetched.
   */
  async batches(a: Assignment, config: ModelConfig): Promise<LocalBatches> {
    const url = a.model.tokenizerUrl;
    const { tokenizer, bytes } = await fetchTokenizer(url, this.o.baseUrl ?? '');
    if (bytes > 0) this.o.onFetched?.(bytes);
    let tokens = this.tokenized.get(url);
    if (!tokens) {
      tokens = tokenizeLocalExamples(this.examples, (s) => tokenizer.encode(s));
      this.tokenized.set(url, tokens);
    }
    const key = `${url}\n${a.train.seqLen}`;
    let pool = this.rows.get(key);
    if (!pool) {
      // The end-of-text token separates packed documents, as in pretraining; it also pads.
      const sep = tokenizer.eosId ?? tokenizer.bosId ?? 0;
      pool = localTrainingRows(tokens, { seqLen: a.train.seqLen, separatorId: sep, padId: tokenizer.padId ?? sep });
      checkVocabulary(pool, config.vocabSize, url);
      this.rows.set(key, pool);
    }
    return localAssignmentBatches(pool, { steps: a.train.steps, batch: a.train.batch, seqLen: a.train.seqLen, round: a.round });
  }
}

function checkVocabulary(pool: readonly LocalRow[], vocabSize: number, url: string): void {
  for (const r of pool) {
    for (const id of r.inputIds) {
      if (id < 0 || id >= vocabSize) {
        throw new LocalDataError(`token id ${id} from ${url} is outside the model's vocabulary of ${vocabSize}: the tokenizer does not match the model`);
      }
    }
  }
}
