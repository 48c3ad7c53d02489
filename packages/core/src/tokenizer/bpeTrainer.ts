/**
 * Trains a GPT-2-style byte-level BPE tokenizer and emits it as a standard Hugging Face
 * `tokenizer.json` object, loadable by `@huggingface/tokenizers` (JS), `tokenizers` (Rust/Python)
 * and `transformers`' PreTrainedTokenizerFast.
 *
 * Algorithm (same shape as the Rust `tokenizers` BpeTrainer):
 *  1. split out special-token strings, pre-tokenize with the GPT-2 regex, count unique words;
 *  2. map each word to byte-level symbols (one per UTF-8 byte, GPT-2 `bytes_to_unicode`);
 *  3. repeatedly merge the most frequent adjacent symbol pair, updating pair counts only for the
 *     words that contain the merged pair (an index pair -> words keeps that cheap), with a lazy
 *     max-heap picking the next pair. Ties go to the pair with the smaller (left, right) ids.
 *
 * Environment-neutral: no TextEncoder/Node APIs (core must run in browsers and Node alike).
 */

/** The GPT-2 pre-tokenization regex, identical to the ByteLevel pre-tokenizer's (use_regex: true). */
export const GPT2_PRETOKENIZE_PATTERN =
  "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/** Options for {@link trainByteLevelBpe}. */
export interface BpeTrainOptions {
  /**
   * Total vocabulary size, special tokens and the 256 byte symbols included (the HF meaning of
   * vocab_size, i.e. the embedding-table size). Training stops early if the corpus runs out of
   * pairs occurring at least `minFrequency` times.
   */
  vocabSize: number;
  /** Special tokens, given ids 0..k-1 in this order. They are never merged or split. */
  specialTokens: string[];
  /** A pair must occur at least this often (word-frequency weighted) to be merged. Default 2. */
  minFrequency?: number;
}

/** One entry of tokenizer.json's `added_tokens`. */
export interface AddedTokenJson {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

/** ByteLevel component config as serialized by the Rust `tokenizers` library. */
export interface ByteLevelComponentJson {
  type: 'ByteLevel';
  add_prefix_space: boolean;
  trim_offsets: boolean;
  use_regex: boolean;
}

/** The `tokenizer.json` object produced by {@link trainByteLevelBpe}. */
export interface ByteLevelBpeTokenizerJson {
  version: '1.0';
  truncation: null;
  padding: null;
  added_tokens: AddedTokenJson[];
  normalizer: null;
  pre_tokenizer: ByteLevelComponentJson;
  post_processor: ByteLevelComponentJson;
  decoder: ByteLevelComponentJson;
  model: {
    type: 'BPE';
    dropout: null;
    unk_token: null;
    continuing_subword_prefix: null;
    end_of_word_suffix: null;
    fuse_unk: false;
    byte_fallback: false;
    ignore_merges: false;
    /** token -> id; ids are 0..size-1 with no gaps: specials, 256 byte symbols, merge results. */
    vocab: Record<string, number>;
    /**
     * Merges in rank order, "left right" form: understood by every `tokenizers` version and by
     * @huggingface/tokenizers (byte-level symbols never contain a space, so it is unambiguous).
     */
    merges: string[];
  };
}

/** Pair keys pack two symbol ids into one safe integer; ids must stay below this. */
const PAIR_BASE = 2 ** 21;
const MAX_VOCAB_SIZE = PAIR_BASE;

/**
 * GPT-2's `bytes_to_unicode`: byte value -> the printable character standing for it.
 * Printable Latin-1 bytes map to themselves, the rest to U+0100 onwards (space -> 'Ġ').
 */
export function byteLevelAlphabet(): string[] {
  const table: string[] = new Array(256);
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[b] = String.fromCharCode(printable ? b : next++);
  }
  return table;
}

/**
 * Appends the UTF-8 bytes of `text` to `out`. Lone surrogates become U+FFFD, exactly as
 * TextEncoder (and so the ByteLevel pre-tokenizer) does.
 */
function appendUtf8(text: string, out: number[]): void {
  for (let i = 0; i < text.length; i++) {
    let cp = text.charCodeAt(i);
    if (cp >= 0xd800 && cp <= 0xdfff) {
      const lo = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
      if (cp <= 0xdbff && lo >= 0xdc00 && lo <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        i++;
      } else {
        cp = 0xfffd;
      }
    }
    if (cp < 0x80) out.push(cp);
    else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 63));
    else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
    else out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Counts GPT-2 pre-tokens over the corpus. Special-token strings are cut out first, as the
 * tokenizer does when encoding, so they neither leak into merges nor get learned piecewise.
 */
function countWords(texts: Iterable<string>, specialTokens: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  const pattern = new RegExp(GPT2_PRETOKENIZE_PATTERN, 'gu');
  // Longest first so that a special token containing another one wins, like a trie match.
  const specialSplitter =
    specialTokens.length > 0
      ? new RegExp(
          [...specialTokens]
            .sort((a, b) => b.length - a.length)
            .map(escapeRegExp)
            .join('|'),
          'g',
        )
      : null;
  let index = 0;
  for (const text of texts) {
    if (typeof text !== 'string') {
      throw new TypeError(`trainByteLevelBpe: texts must be strings, got ${typeof text} at index ${index}`);
    }
    index++;
    const pieces = specialSplitter ? text.split(specialSplitter) : [text];
    for (const piece of pieces) {
      pattern.lastIndex = 0;
      let m: RegExpExecArray | null;
      while ((m = pattern.exec(piece)) !== null) {
        const w = m[0];
        counts.set(w, (counts.get(w) ?? 0) + 1);
      }
    }
  }
  return counts;
}

/** Max-heap of (count, pairKey): higher count first, then smaller key (= smaller left, right ids). */
class PairHeap {
  private counts: number[] = [];
  private keys: number[] = [];

  get size(): number {
    return this.keys.length;
  }
  topCount(): number {
    return this.counts[0];
  }
  topKey(): number {
    return this.keys[0];
  }
  private before(i: number, j: number): boolean {
    const ci = this.counts[i];
    const cj = this.counts[j];
    return ci > cj || (ci === cj && this.keys[i] < this.keys[j]);
  }
  private swap(i: number, j: number): void {
    const c = this.counts[i];
    this.counts[i] = this.counts[j];
    this.counts[j] = c;
    const k = this.keys[i];
    this.keys[i] = this.keys[j];
    this.keys[j] = k;
  }
  push(count: number, key: number): void {
    this.counts.push(count);
    this.keys.push(key);
    let i = this.keys.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }
  pop(): void {
    const last = this.keys.length - 1;
    this.swap(0, last);
    this.counts.pop();
    this.keys.pop();
    const n = this.keys.length;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let best = i;
      if (l < n && this.before(l, best)) best = l;
      if (r < n && this.before(r, best)) best = r;
      if (best === i) break;
      this.swap(i, best);
      i = best;
    }
  }
}

function validateOptions(opts: BpeTrainOptions): { vocabSize: number; specials: string[]; minFrequency: number } {
  if (opts === null || typeof opts !== 'object') {
    throw new TypeError('trainByteLevelBpe: options {vocabSize, specialTokens, minFrequency?} are required');
  }
  const specials = opts.specialTokens ?? [];
  if (!Array.isArray(specials)) throw new TypeError('trainByteLevelBpe: specialTokens must be an array of strings');
  const seen = new Set<string>();
  for (const s of specials) {
    if (typeof s !== 'string' || s.length === 0) {
      throw new TypeError(`trainByteLevelBpe: special tokens must be non-empty strings, got ${JSON.stringify(s)}`);
    }
    if (seen.has(s)) throw new Error(`trainByteLevelBpe: special token ${JSON.stringify(s)} is listed twice`);
    seen.add(s);
  }
  for (const sym of byteLevelAlphabet()) {
    if (seen.has(sym)) {
      throw new Error(
        `trainByteLevelBpe: special token ${JSON.stringify(sym)} collides with a byte-level base symbol; ` +
          'use a multi-character token such as "<|endoftext|>"',
      );
    }
  }
  const minVocab = specials.length + 256;
  const { vocabSize } = opts;
  if (!Number.isInteger(vocabSize) || vocabSize < minVocab || vocabSize > MAX_VOCAB_SIZE) {
    throw new RangeError(
      `trainByteLevelBpe: vocabSize must be an integer in [${minVocab}, ${MAX_VOCAB_SIZE}] ` +
        `(${specials.length} special tokens + 256 byte symbols + merges), got ${vocabSize}`,
    );
  }
  const minFrequency = opts.minFrequency ?? 2;
  if (!Number.isInteger(minFrequency) || minFrequency < 1) {
    throw new RangeError(`trainByteLevelBpe: minFrequency must be an integer >= 1, got ${minFrequency}`);
  }
  return { vocabSize, specials: [...specials], minFrequency };
}

/**
 * Learns a byte-level BPE vocabulary from `texts` and returns it as a Hugging Face
 * `tokenizer.json` object (JSON-serializable as is). Vocabulary layout: special tokens
 * 0..k-1, then the 256 byte symbols in code-point order (= GPT-2's order), then one token per
 * merge. Deterministic: the same texts (in the same order) and options give identical output.
 *
 * @throws RangeError/TypeError for invalid options (vocabSize too small, duplicate specials...).
 */
export function trainByteLevelBpe(texts: Iterable<string>, opts: BpeTrainOptions): ByteLevelBpeTokenizerJson {
  const { vocabSize, specials, minFrequency } = validateOptions(opts);
  const specialSet = new Set(specials);

  // Symbol table: id -> token string, token string -> id.
  const idToToken: string[] = [...specials];
  const tokenToId = new Map<string, number>();
  specials.forEach((s, i) => tokenToId.set(s, i));
  const alphabet = byteLevelAlphabet();
  const byteToId = new Array<number>(256);
  const byteOrder = Array.from({ length: 256 }, (_, b) => b).sort(
    (a, b) => alphabet[a].charCodeAt(0) - alphabet[b].charCodeAt(0),
  );
  for (const b of byteOrder) {
    byteToId[b] = idToToken.length;
    tokenToId.set(alphabet[b], idToToken.length);
    idToToken.push(alphabet[b]);
  }

  // Unique words as symbol-id sequences with their frequencies.
  const wordCounts = countWords(texts, specials);
  const words: number[][] = [];
  const freqs: number[] = [];
  const bytes: number[] = [];
  for (const [w, c] of wordCounts) {
    bytes.length = 0;
    appendUtf8(w, bytes);
    words.push(bytes.map((b) => byteToId[b]));
    freqs.push(c);
  }
  wordCounts.clear();

  // Pair counts and pair -> indices of words that contain (or once contained) it.
  const pairCounts = new Map<number, number>();
  const pairWords = new Map<number, number[]>();
  for (let wi = 0; wi < words.length; wi++) {
    const w = words[wi];
    const f = freqs[wi];
    for (let i = 0; i + 1 < w.length; i++) {
      const key = w[i] * PAIR_BASE + w[i + 1];
      pairCounts.set(key, (pairCounts.get(key) ?? 0) + f);
      const list = pairWords.get(key);
      if (list === undefined) pairWords.set(key, [wi]);
      else if (list[list.length - 1] !== wi) list.push(wi);
    }
  }
  const heap = new PairHeap();
  for (const [key, count] of pairCounts) heap.push(count, key);

  const merges: string[] = [];
  const visited = new Int32Array(words.length).fill(-1);
  while (idToToken.length < vocabSize) {
    // Lazy heap: entries may carry stale counts; refresh them until the top is current.
    while (heap.size > 0) {
      const key = heap.topKey();
      const actual = pairCounts.get(key) ?? 0;
      if (actual === heap.topCount()) break;
      heap.pop();
      if (actual > 0) heap.push(actual, key);
    }
    if (heap.size === 0 || heap.topCount() < minFrequency) break;
    const pair = heap.topKey();
    heap.pop();
    const left = Math.floor(pair / PAIR_BASE);
    const right = pair - left * PAIR_BASE;

    const merged = idToToken[left] + idToToken[right];
    if (specialSet.has(merged)) {
      throw new Error(
        `trainByteLevelBpe: a learned merge produced the special token string ${JSON.stringify(merged)}, ` +
          'which would make it ambiguous; rename that special token (e.g. wrap it in "<|...|>")',
      );
    }
    // Two different pairs can spell the same string ("a"+"bc", "ab"+"c"): reuse its id, as the
    // Rust trainer does, so training symbols always agree with the string-based encoder.
    let newId = tokenToId.get(merged);
    if (newId === undefined) {
      newId = idToToken.length;
      idToToken.push(merged);
      tokenToId.set(merged, newId);
    }
    merges.push(`${idToToken[left]} ${idToToken[right]}`);

    // Re-count only the words that contain the pair: remove their old pairs, merge
    // left to right (non-overlapping, as encoding does), add the new pairs back.
    const touched = new Set<number>();
    const step = merges.length;
    for (const wi of pairWords.get(pair) ?? []) {
      if (visited[wi] === step) continue;
      visited[wi] = step;
      const w = words[wi];
      let found = false;
      for (let i = 0; i + 1 < w.length; i++) {
        if (w[i] === left && w[i + 1] === right) {
          found = true;
          break;
        }
      }
      if (!found) continue;
      const f = freqs[wi];
      for (let i = 0; i + 1 < w.length; i++) {
        const key = w[i] * PAIR_BASE + w[i + 1];
        const c = (pairCounts.get(key) ?? 0) - f;
        if (c > 0) pairCounts.set(key, c);
        else pairCounts.delete(key);
      }
      const out: number[] = [];
      for (let i = 0; i < w.length; i++) {
        if (i + 1 < w.length && w[i] === left && w[i + 1] === right) {
          out.push(newId);
          i++;
        } else {
          out.push(w[i]);
        }
      }
      words[wi] = out;
      for (let i = 0; i + 1 < out.length; i++) {
        const key = out[i] * PAIR_BASE + out[i + 1];
        pairCounts.set(key, (pairCounts.get(key) ?? 0) + f);
        // Pairs without the new symbol already existed in this word and list it already.
        if (out[i] === newId || out[i + 1] === newId) {
          touched.add(key);
          const list = pairWords.get(key);
          if (list === undefined) pairWords.set(key, [wi]);
          else if (list[list.length - 1] !== wi) list.push(wi);
        }
      }
    }
    pairWords.delete(pair);
    // Counts of pairs with the new symbol grew: give the heap fresh entries for them.
    for (const key of touched) {
      const c = pairCounts.get(key);
      if (c !== undefined) heap.push(c, key);
    }
  }

  const vocab: Record<string, number> = {};
  idToToken.forEach((token, id) => {
    // defineProperty: a token could in principle be "__proto__", which plain assignment would eat.
    Object.defineProperty(vocab, token, { value: id, enumerable: true, writable: true, configurable: true });
  });
  const byteLevel = (trimOffsets: boolean): ByteLevelComponentJson => ({
    type: 'ByteLevel',
    add_prefix_space: false,
    trim_offsets: trimOffsets,
    use_regex: true,
  });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials.map((content, id) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: byteLevel(true),
    post_processor: byteLevel(false),
    decoder: byteLevel(true),
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
}
