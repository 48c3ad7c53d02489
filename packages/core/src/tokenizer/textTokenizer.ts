/**
 * TextTokenizer: the project's tokenizer interface, a thin wrapper over @huggingface/tokenizers
 * built from a Hugging Face `tokenizer.json` (+ optional `tokenizer_config.json`).
 *
 * Why a wrapper: the library's defaults are tuned for chat/inference use (it adds special tokens
 * through the post-processor, cleans up spaces on decode, throws on empty input, and silently
 * drops unknown ids); for training and exact text round-trips we want none of that, plus
 * validation with actionable error messages and resolved bos/eos/pad ids.
 */
import { Tokenizer } from '@huggingface/tokenizers';

/** Options for {@link TextTokenizer.decode}. */
export interface TextDecodeOptions {
  /** Drop special tokens (bos/eos/pad...) from the output. Default false. */
  skipSpecialTokens?: boolean;
}

/** Special-token names, tried in order when tokenizer_config.json does not name one. */
const FALLBACK_SPECIALS = {
  bos: ['<|begin_of_text|>', '<s>', '<|startoftext|>', '<bos>', '[BOS]', '<|endoftext|>'],
  eos: ['<|end_of_text|>', '</s>', '<|endoftext|>', '<eos>', '[EOS]', '<|im_end|>'],
  pad: ['<pad>', '<|pad|>', '[PAD]', '<|finetune_right_pad_id|>'],
} as const;

/** Model types @huggingface/tokenizers 0.2 implements. */
const SUPPORTED_MODELS: readonly string[] = ['BPE', 'WordPiece', 'Unigram'];

type JsonObject = Record<string, unknown>;

function isObject(x: unknown): x is JsonObject {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  return typeof x;
}

/**
 * Checks the parts of tokenizer.json that the library would otherwise fail on obscurely
 * ("Cannot read properties of undefined"), and returns a copy with absent optional pipeline
 * stages filled in as null (the library requires the keys to exist).
 */
function normalizeTokenizerJson(json: unknown): JsonObject {
  const where = 'Invalid tokenizer.json:';
  if (!isObject(json)) throw new Error(`${where} expected a JSON object, got ${describe(json)}`);
  const model = json.model;
  if (model === undefined) throw new Error(`${where} missing "model" (the vocabulary and merges)`);
  if (!isObject(model)) throw new Error(`${where} "model" must be an object, got ${describe(model)}`);
  if (model.vocab === undefined) throw new Error(`${where} missing "model.vocab"`);
  // The library would silently treat an unknown type as a pass-through "Legacy" model.
  if (model.type !== undefined && !SUPPORTED_MODELS.includes(model.type as string)) {
    throw new Error(`${where} unsupported "model.type" ${JSON.stringify(model.type)}; expected one of ${SUPPORTED_MODELS.join(', ')}`);
  }
  if (model.type === 'BPE' || model.type === 'WordPiece') {
    if (!isObject(model.vocab)) throw new Error(`${where} "model.vocab" must be a token -> id object for ${model.type}`);
    for (const [token, id] of Object.entries(model.vocab)) {
      if (!Number.isInteger(id) || (id as number) < 0) {
        throw new Error(`${where} "model.vocab" entry ${JSON.stringify(token)} has id ${JSON.stringify(id)}, expected an integer >= 0`);
      }
    }
  }
  if (model.type === 'BPE' && !Array.isArray(model.merges)) {
    throw new Error(`${where} missing "model.merges" (a BPE model needs its merge list)`);
  }
  const addedTokens = json.added_tokens ?? [];
  if (!Array.isArray(addedTokens)) throw new Error(`${where} "added_tokens" must be an array, got ${describe(addedTokens)}`);
  addedTokens.forEach((t: unknown, i) => {
    if (!isObject(t) || typeof t.content !== 'string' || !Number.isInteger(t.id)) {
      throw new Error(`${where} added_tokens[${i}] must have a string "content" and an integer "id"`);
    }
  });
  return {
    ...json,
    normalizer: json.normalizer ?? null,
    pre_tokenizer: withUnicodeDigits(json.pre_tokenizer ?? null),
    post_processor: json.post_processor ?? null,
    decoder: json.decoder ?? null,
    added_tokens: addedTokens,
  };
}

/**
 * The Rust tokenizers' Digits pre-tokenizer splits on every Unicode number (char::is_numeric:
 * Nd, Nl, No); the JS library's matches ASCII \d only, so "½" or Arabic-Indic digits tokenize
 * differently. An isolating Split on \p{N} is what Rust does, in a form both libraries agree on.
 */
function withUnicodeDigits(pre: unknown): unknown {
  if (!isObject(pre)) return pre;
  if (pre.type === 'Digits') {
    return { type: 'Split', pattern: { Regex: pre.individual_digits === true ? '\\p{N}' : '\\p{N}+' }, behavior: 'Isolated', invert: false };
  }
  if (pre.type === 'Sequence' && Array.isArray(pre.pretokenizers)) return { ...pre, pretokenizers: pre.pretokenizers.map(withUnicodeDigits) };
  return pre;
}

/** tokenizer_config.json special tokens are either "text" or {content: "text", ...}. */
function configTokenText(config: JsonObject, key: string): string | undefined {
  const v = config[key];
  if (typeof v === 'string') return v;
  if (isObject(v) && typeof v.content === 'string') return v.content;
  return undefined;
}

/**
 * Encodes text to token ids and back with a Hugging Face tokenizer definition.
 *
 * Special-token strings that appear literally in the text (e.g. "<|endoftext|>") are matched
 * as single special tokens, as in Hugging Face `tokenizers`; nothing else (no BOS/EOS) is added.
 */
export class TextTokenizer {
  /** Number of ids the model must embed: highest id in vocab/added_tokens + 1. */
  readonly vocabSize: number;
  /** Beginning-of-sequence id (tokenizer_config bos_token, else a conventional special token). */
  readonly bosId: number | undefined;
  /** End-of-sequence id (tokenizer_config eos_token, else a conventional special token). */
  readonly eosId: number | undefined;
  /** Padding id (tokenizer_config pad_token, else a conventional pad token); may be undefined. */
  readonly padId: number | undefined;
  /** Ids of all special tokens (added_tokens marked special). */
  readonly specialIds: ReadonlySet<number>;
  /** tokenizer_config.json's Jinja chat_template (instruct models), when it has one. */
  readonly chatTemplate: string | undefined;
  /** bos/eos token texts from tokenizer_config.json, which chat templates may reference. */
  readonly specialTokenTexts: { bos_token?: string; eos_token?: string };

  private readonly tokenizer: Tokenizer;
  private readonly cleanUpSpaces: boolean;

  /**
   * @param tokenizerJson parsed tokenizer.json
   * @param tokenizerConfig parsed tokenizer_config.json, if any (bos/eos/pad names, decode options)
   * @throws Error naming the missing/invalid part when tokenizerJson is not a usable tokenizer.
   */
  constructor(tokenizerJson: unknown, tokenizerConfig?: unknown) {
    const json = normalizeTokenizerJson(tokenizerJson);
    if (tokenizerConfig !== undefined && tokenizerConfig !== null && !isObject(tokenizerConfig)) {
      throw new Error(`Invalid tokenizer_config.json: expected a JSON object, got ${describe(tokenizerConfig)}`);
    }
    const config: JsonObject = tokenizerConfig ?? {};
    try {
      this.tokenizer = new Tokenizer(json, config);
    } catch (e) {
      throw new Error(`Invalid tokenizer.json: @huggingface/tokenizers could not load it: ${(e as Error).message}`);
    }
    // The library defaults clean_up_tokenization_spaces to true, which rewrites " ." to "." and
    // breaks exact round-trips; only honour it when the config explicitly asks for it.
    this.cleanUpSpaces = config.clean_up_tokenization_spaces === true;
    this.chatTemplate = typeof config.chat_template === 'string' ? config.chat_template : undefined;
    this.specialTokenTexts = { bos_token: configTokenText(config, 'bos_token'), eos_token: configTokenText(config, 'eos_token') };

    let maxId = -1;
    for (const id of this.tokenizer.get_vocab(true).values()) maxId = Math.max(maxId, id);
    this.vocabSize = maxId + 1;

    const added = json.added_tokens as { id: number; content: string; special?: boolean }[];
    this.specialIds = new Set(added.filter((t) => t.special === true).map((t) => t.id));
    const specialNames = new Set(added.filter((t) => t.special === true).map((t) => t.content));
    const resolve = (key: 'bos' | 'eos' | 'pad'): number | undefined => {
      const named = configTokenText(config, `${key}_token`);
      if (named !== undefined) {
        const id = this.tokenizer.token_to_id(named);
        if (id === undefined) {
          throw new Error(
            `tokenizer_config.json ${key}_token ${JSON.stringify(named)} is not in tokenizer.json's vocabulary; ` +
              'fix the config or add the token to added_tokens',
          );
        }
        return id;
      }
      for (const candidate of FALLBACK_SPECIALS[key]) {
        if (specialNames.has(candidate)) return this.tokenizer.token_to_id(candidate);
      }
      return undefined;
    };
    this.bosId = resolve('bos');
    this.eosId = resolve('eos');
    this.padId = resolve('pad');
  }

  /** Token ids for `text`; no BOS/EOS or other special tokens are added. */
  encode(text: string): number[] {
    if (typeof text !== 'string') throw new TypeError(`TextTokenizer.encode expects a string, got ${describe(text)}`);
    if (text.length === 0) return [];
    return this.tokenizer.encode(text, { add_special_tokens: false }).ids;
  }

  /**
   * Text for `ids`. Exact inverse of {@link encode} for byte-level BPE tokenizers (ids that end
   * mid-character decode to U+FFFD).
   * @throws RangeError for ids outside the vocabulary (the library would silently drop them).
   */
  decode(ids: readonly number[], options: TextDecodeOptions = {}): string {
    if (ids.length === 0) return '';
    for (const id of ids) {
      if (!Number.isInteger(id) || this.tokenizer.id_to_token(id) === undefined) {
        throw new RangeError(`TextTokenizer.decode: token id ${id} is not in the vocabulary (size ${this.vocabSize})`);
      }
    }
    return this.tokenizer.decode([...ids], {
      skip_special_tokens: options.skipSpecialTokens ?? false,
      clean_up_tokenization_spaces: this.cleanUpSpaces,
    });
  }

  /** Id of a token string as it appears in the vocabulary (byte-level form, e.g. "Ġthe"). */
  tokenId(token: string): number | undefined {
    return this.tokenizer.token_to_id(token);
  }

  /** Vocabulary string of an id, or undefined if the id is unused. */
  idToToken(id: number): string | undefined {
    return this.tokenizer.id_to_token(id);
  }
}

/**
 * A tokenizer_config.json object to save next to a trained tokenizer.json, so that
 * TextTokenizer and `transformers`' AutoTokenizer agree on bos/eos/pad and decode exactly.
 */
export function makeTokenizerConfig(
  specialTokens: { bos: string; eos: string; pad?: string; unk?: string },
  modelMaxLength: number,
): Record<string, unknown> {
  if (!Number.isInteger(modelMaxLength) || modelMaxLength <= 0) {
    throw new RangeError(`makeTokenizerConfig: modelMaxLength must be a positive integer, got ${modelMaxLength}`);
  }
  for (const [name, value] of Object.entries(specialTokens)) {
    if (value !== undefined && (typeof value !== 'string' || value.length === 0)) {
      throw new TypeError(`makeTokenizerConfig: ${name} must be a non-empty string, got ${JSON.stringify(value)}`);
    }
  }
  return {
    tokenizer_class: 'PreTrainedTokenizerFast',
    bos_token: specialTokens.bos,
    eos_token: specialTokens.eos,
    pad_token: specialTokens.pad ?? null,
    unk_token: specialTokens.unk ?? null,
    model_max_length: modelMaxLength,
    add_bos_token: false,
    add_eos_token: false,
    clean_up_tokenization_spaces: false,
  };
}
