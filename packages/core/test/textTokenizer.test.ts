import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trainByteLevelBpe } from '../src/tokenizer/bpeTrainer';
import { TextTokenizer, makeTokenizerConfig } from '../src/tokenizer/textTokenizer';
import { loadTokenizerDir, saveTokenizerDir } from '../src/node/tokenizerFile';

const CORPUS = [
  'The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs.',
  'A journey of a thousand miles begins with a single step. Step by step, mile by mile.',
  'To be, or not to be, that is the question. Whether tis nobler in the mind to suffer.',
  'The slings and arrows of outrageous fortune, or to take arms against a sea of troubles.',
];
const SPECIALS = ['<s>', '</s>', '<pad>'];
const JSON_ = trainByteLevelBpe(CORPUS, { vocabSize: 340, specialTokens: SPECIALS, minFrequency: 1 });
const CONFIG = makeTokenizerConfig({ bos: '<s>', eos: '</s>', pad: '<pad>' }, 512);

test('makeTokenizerConfig produces a PreTrainedTokenizerFast config', () => {
  assert.deepEqual(CONFIG, {
    tokenizer_class: 'PreTrainedTokenizerFast',
    bos_token: '<s>',
    eos_token: '</s>',
    pad_token: '<pad>',
    unk_token: null,
    model_max_length: 512,
    add_bos_token: false,
    add_eos_token: false,
    clean_up_tokenization_spaces: false,
  });
  assert.equal(makeTokenizerConfig({ bos: '<s>', eos: '</s>' }, 8).pad_token, null);
  assert.throws(() => makeTokenizerConfig({ bos: '<s>', eos: '</s>' }, 0), /modelMaxLength/);
  assert.throws(() => makeTokenizerConfig({ bos: '', eos: '</s>' }, 8), /bos must be a non-empty string/);
});

test('encode adds no special tokens and decode inverts it exactly', () => {
  const tok = new TextTokenizer(JSON_, CONFIG);
  for (const s of ['The fox.', 'Hello , world . It ’s  spaced\n\n  out ! 👋🏽 café', ' leading', 'trailing ']) {
    const ids = tok.encode(s);
    assert.ok(!ids.some((id) => id < 3), 'no special ids added');
    assert.equal(tok.decode(ids), s);
  }
  assert.deepEqual(tok.encode(''), []);
  assert.equal(tok.decode([]), '');
  // Special-token strings in the text are matched as single tokens (library behaviour).
  const ids = tok.encode('<s>The fox</s>');
  assert.equal(ids[0], tok.bosId);
  assert.equal(ids[ids.length - 1], tok.eosId);
  assert.equal(tok.decode(ids), '<s>The fox</s>');
  assert.equal(tok.decode(ids, { skipSpecialTokens: true }), 'The fox');
});

test('vocabSize, tokenId and special ids', () => {
  const tok = new TextTokenizer(JSON_, CONFIG);
  assert.equal(tok.vocabSize, 340);
  assert.deepEqual([tok.bosId, tok.eosId, tok.padId], [0, 1, 2]);
  assert.deepEqual([...tok.specialIds].sort(), [0, 1, 2]);
  assert.equal(tok.tokenId('Ġ'), JSON_.model.vocab['Ġ']);
  assert.equal(tok.tokenId('Ġthe'), JSON_.model.vocab['Ġthe']);
  assert.notEqual(tok.tokenId('Ġthe'), undefined);
  assert.equal(tok.tokenId('not-a-token-xyz'), undefined);
  assert.equal(tok.idToToken(0), '<s>');
});

test('special ids come from tokenizer_config in string or {content} form, else from special tokens', () => {
  const asObjects = new TextTokenizer(JSON_, {
    bos_token: { content: '</s>', lstrip: false },
    eos_token: { content: '<s>' },
    pad_token: null,
  });
  assert.deepEqual([asObjects.bosId, asObjects.eosId, asObjects.padId], [1, 0, 2]);
  const noConfig = new TextTokenizer(JSON_);
  assert.deepEqual([noConfig.bosId, noConfig.eosId, noConfig.padId], [0, 1, 2]);
  const gpt2Like = new TextTokenizer(trainByteLevelBpe(CORPUS, { vocabSize: 300, specialTokens: ['<|endoftext|>'] }));
  assert.deepEqual([gpt2Like.bosId, gpt2Like.eosId, gpt2Like.padId], [0, 0, undefined]);
  assert.throws(() => new TextTokenizer(JSON_, { eos_token: '<|eot|>' }), /eos_token "<\|eot\|>" is not in tokenizer.json's vocabulary/);
});

test('decode honours only an explicit clean_up_tokenization_spaces: true', () => {
  const text = 'Hello , world .';
  assert.equal(new TextTokenizer(JSON_, {}).decode(new TextTokenizer(JSON_).encode(text)), text);
  const cleaning = new TextTokenizer(JSON_, { clean_up_tokenization_spaces: true });
  assert.equal(cleaning.decode(cleaning.encode(text)), 'Hello, world.');
});

test('decode rejects ids outside the vocabulary instead of dropping them', () => {
  const tok = new TextTokenizer(JSON_, CONFIG);
  assert.throws(() => tok.decode([5, 340]), /token id 340 is not in the vocabulary \(size 340\)/);
  assert.throws(() => tok.decode([-1]), RangeError);
  assert.throws(() => tok.decode([1.5]), RangeError);
});

test('merges given as [a, b] pairs (newer tokenizers format) work the same', () => {
  const pairs = { ...JSON_, model: { ...JSON_.model, merges: JSON_.model.merges.map((m) => m.split(' ')) } };
  const a = new TextTokenizer(JSON_);
  const b = new TextTokenizer(pairs);
  const text = CORPUS.join('\n');
  assert.deepEqual(b.encode(text), a.encode(text));
  assert.ok(a.encode(text).length < text.length * 0.6);
});

test('invalid tokenizer.json errors say what is missing', () => {
  assert.throws(() => new TextTokenizer(null), /Invalid tokenizer.json: expected a JSON object, got null/);
  assert.throws(() => new TextTokenizer([]), /expected a JSON object, got an array/);
  assert.throws(() => new TextTokenizer({ added_tokens: [] }), /missing "model"/);
  assert.throws(() => new TextTokenizer({ model: { type: 'BPE', merges: [] } }), /missing "model.vocab"/);
  assert.throws(() => new TextTokenizer({ model: { type: 'BPE', vocab: { a: 0 } } }), /missing "model.merges"/);
  assert.throws(() => new TextTokenizer({ model: { type: 'BPE', vocab: { a: 'x' }, merges: [] } }), /"model.vocab" entry "a" has id "x"/);
  assert.throws(() => new TextTokenizer({ ...JSON_, added_tokens: {} }), /"added_tokens" must be an array/);
  assert.throws(() => new TextTokenizer({ ...JSON_, added_tokens: [{ id: 0 }] }), /added_tokens\[0\] must have a string "content"/);
  assert.throws(() => new TextTokenizer({ ...JSON_, model: { type: 'Nope', vocab: {} } }), /unsupported "model.type" "Nope"/);
  assert.throws(() => new TextTokenizer({ ...JSON_, pre_tokenizer: { type: 'Nope' } }), /could not load it: Unknown PreTokenizer type: Nope/);
  assert.throws(() => new TextTokenizer(JSON_, 'config'), /Invalid tokenizer_config.json: expected a JSON object, got string/);
  // Absent optional stages are tolerated (filled in as null); the library itself would throw.
  const { normalizer: _n, post_processor: _p, ...partial } = JSON_;
  assert.deepEqual(new TextTokenizer(partial).encode('The fox'), new TextTokenizer(JSON_).encode('The fox'));
});

test('loadTokenizerDir reads tokenizer.json (+ tokenizer_config.json) and reports a missing file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tok-'));
  try {
    await assert.rejects(loadTokenizerDir(dir), (e: Error) => e.message.includes(join(dir, 'tokenizer.json')) && /does not exist/.test(e.message));
    await saveTokenizerDir(dir, JSON_);
    const plain = await loadTokenizerDir(dir);
    assert.equal(plain.decode(plain.encode('The fox.')), 'The fox.');
    await saveTokenizerDir(dir, JSON_, { ...CONFIG, bos_token: '</s>' });
    const withConfig = await loadTokenizerDir(dir);
    assert.equal(withConfig.bosId, 1);
    await writeFile(join(dir, 'tokenizer_config.json'), '{oops');
    await assert.rejects(loadTokenizerDir(dir), /tokenizer_config.json is not valid JSON/);
    await writeFile(join(dir, 'tokenizer.json'), '{"added_tokens": []}');
    await rm(join(dir, 'tokenizer_config.json'));
    await assert.rejects(loadTokenizerDir(dir), (e: Error) => e.message.startsWith(dir) && /missing "model"/.test(e.message));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
