/**
 * tokenizer.json and tokenizer_config.json, in the layout Hugging Face tokenizers load, from the
 * tokenizer a GGUF embeds (`tokenizer.ggml.*`). Only byte-level BPE (`tokenizer.ggml.model` =
 * "gpt2") is built; the pre-tokenizer follows `tokenizer.ggml.pre`, which names the regex split
 * llama.cpp applies (llama-vocab.cpp) and which we express as the HF pre-tokenizer of that model.
 */
import { GgufError, type GgufMetadata } from './ggufContents';
import { ggufNumber, ggufString } from './ggufLlamaConfig';

/** llama.cpp token types (llama_token_type). */
const TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

const BYTE_LEVEL = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };

/** HF pre-tokenizers for the llama.cpp pre-tokenizer names we support. */
const PRE_TOKENIZERS: Record<string, unknown> = {
  // GPT-2's regex, digits split one by one first (SmolLM's tokenizer.json; llama.cpp LLAMA_VOCAB_PRE_TYPE_SMOLLM).
  smollm: { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, BYTE_LEVEL] },
  'gpt-2': BYTE_LEVEL,
  default: BYTE_LEVEL,
};

export const SUPPORTED_GGUF_PRE_TOKENIZERS = Object.keys(PRE_TOKENIZERS);

function stringArray(metadata: GgufMetadata, key: string): string[] {
  const v = metadata[key];
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) throw new GgufError(`GGUF metadata "${key}" must be an array of strings`);
  return v as string[];
}

function numberArray(metadata: GgufMetadata, key: string, length: number): number[] | undefined {
  const v = metadata[key];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length !== length) throw new GgufError(`GGUF metadata "${key}" must be an array of ${length} numbers`);
  return v.map(Number);
}

export interface GgufTokenizerFiles {
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
}

/** Builds the tokenizer files; refuses tokenizer kinds we cannot express exactly. */
export function tokenizerFilesFromGguf(metadata: GgufMetadata): GgufTokenizerFiles {
  const kind = ggufString(metadata, 'tokenizer.ggml.model');
  if (kind !== 'gpt2') {
    throw new GgufError(`GGUF tokenizer model "${kind}" is not supported; supported: gpt2 (byte-level BPE)`);
  }
  const pre = ggufString(metadata, 'tokenizer.ggml.pre', 'default');
  const preTokenizer = PRE_TOKENIZERS[pre];
  if (!preTokenizer) {
    throw new GgufError(`GGUF pre-tokenizer "${pre}" is not supported; supported: ${SUPPORTED_GGUF_PRE_TOKENIZERS.join(', ')}`);
  }
  const tokens = stringArray(metadata, 'tokenizer.ggml.tokens');
  const merges = stringArray(metadata, 'tokenizer.ggml.merges');
  const types = numberArray(metadata, 'tokenizer.ggml.token_type', tokens.length) ?? tokens.map(() => TOKEN_TYPE.normal);

  const vocab: Record<string, number> = {};
  const addedTokens: Record<string, unknown>[] = [];
  tokens.forEach((token, id) => {
    if (Object.hasOwn(vocab, token)) throw new GgufError(`GGUF vocabulary holds "${token}" twice (ids ${vocab[token]} and ${id})`);
    vocab[token] = id;
    const type = types[id];
    if (type === TOKEN_TYPE.control || type === TOKEN_TYPE.userDefined) {
      addedTokens.push({
        id, content: token, single_word: false, lstrip: false, rstrip: false,
        normalized: type === TOKEN_TYPE.userDefined, special: type === TOKEN_TYPE.control,
      });
    }
  });

  const idOf = (key: string): string | undefined => {
    const v = metadata[key];
    if (v === undefined) return undefined;
    const id = ggufNumber(metadata, key);
    if (!Number.isInteger(id) || id < 0 || id >= tokens.length) throw new GgufError(`GGUF metadata "${key}" = ${id} is not a token id`);
    return tokens[id];
  };
  const addBos = metadata['tokenizer.ggml.add_bos_token'] === true;
  const bos = idOf('tokenizer.ggml.bos_token_id');
  const tokenizerJson: Record<string, unknown> = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: null,
    pre_tokenizer: preTokenizer,
    post_processor: addBos && bos !== undefined
      ? {
          type: 'TemplateProcessing',
          single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
          pair: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
          special_tokens: { [bos]: { id: bos, ids: [vocab[bos]], tokens: [bos] } },
        }
      : { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges,
    },
  };
  const tokenizerConfig: Record<string, unknown> = {
    tokenizer_class: 'GPT2Tokenizer',
    add_bos_token: addBos,
    add_eos_token: metadata['tokenizer.ggml.add_eos_token'] === true,
    clean_up_tokenization_spaces: false,
    model_max_length: ggufNumber(metadata, `${ggufString(metadata, 'general.architecture')}.context_length`, 2048),
  };
  for (const [field, key] of [
    ['bos_token', 'tokenizer.ggml.bos_token_id'], ['eos_token', 'tokenizer.ggml.eos_token_id'],
    ['unk_token', 'tokenizer.ggml.unknown_token_id'], ['pad_token', 'tokenizer.ggml.padding_token_id'],
  ] as const) {
    const token = idOf(key);
    if (token !== undefined) tokenizerConfig[field] = token;
  }
  if (typeof metadata['tokenizer.chat_template'] === 'string') tokenizerConfig.chat_template = metadata['tokenizer.chat_template'];
  return { tokenizerJson, tokenizerConfig };
}
