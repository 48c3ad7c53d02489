import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tokenizer } from '@huggingface/tokenizers';
import { trainByteLevelBpe, byteLevelAlphabet, type ByteLevelBpeTokenizerJson } from '../src/tokenizer/bpeTrainer';

// Public-domain English prose: training sample (Lincoln, Dickens, Austen, Melville) ...
const REAL_TEXT = [
  `Four score and seven years ago our fathers brought forth on this continent, a new nation, conceived in Liberty, and dedicated to the proposition that all men are created equal.`,
  `Now we are engaged in a great civil war, testing whether that nation, or any nation so conceived and so dedicated, can long endure. We are met on a great battle-field of that war. We have come to dedicate a portion of that field, as a final resting place for those who here gave their lives that that nation might live. It is altogether fitting and proper that we should do this.`,
  `But, in a larger sense, we can not dedicate -- we can not consecrate -- we can not hallow -- this ground. The brave men, living and dead, who struggled here, have consecrated it, far above our poor power to add or detract. The world will little note, nor long remember what we say here, but it can never forget what they did here. It is for us the living, rather, to be dedicated here to the unfinished work which they who fought here have thus far so nobly advanced. It is rather for us to be here dedicated to the great task remaining before us -- that from these honored dead we take increased devotion to that cause for which they gave the last full measure of devotion -- that we here highly resolve that these dead shall not have died in vain -- that this nation, under God, shall have a new birth of freedom -- and that government of the people, by the people, for the people, shall not perish from the earth.`,
  `It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness, it was the epoch of belief, it was the epoch of incredulity, it was the season of Light, it was the season of Darkness, it was the spring of hope, it was the winter of despair, we had everything before us, we had nothing before us, we were all going direct to Heaven, we were all going direct the other way.`,
  `It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife. However little known the feelings or views of such a man may be on his first entering a neighbourhood, this truth is so well fixed in the minds of the surrounding families, that he is considered the rightful property of some one or other of their daughters.`,
  `"My dear Mr. Bennet," said his lady to him one day, "have you heard that Netherfield Park is let at last?" Mr. Bennet replied that he had not. "But it is," returned she; "for Mrs. Long has just been here, and she told me all about it." Mr. Bennet made no answer.`,
  `Call me Ishmael. Some years ago--never mind how long precisely--having little or no money in my purse, and nothing particular to interest me on shore, I thought I would sail about a little and see the watery part of the world. It is a way I have of driving off the spleen and regulating the circulation. Whenever I find myself growing grim about the mouth; whenever it is a damp, drizzly November in my soul; whenever I find myself involuntarily pausing before coffin warehouses, and bringing up the rear of every funeral I meet; then, I account it high time to get to sea as soon as I can.`,
];
// ... and held-out text (Declaration of Independence) never seen in training.
const HELD_OUT = `When in the Course of human events, it becomes necessary for one people to dissolve the political bands which have connected them with another, and to assume among the powers of the earth, the separate and equal station to which the Laws of Nature and of Nature's God entitle them, a decent respect to the opinions of mankind requires that they should declare the causes which impel them to the separation. We hold these truths to be self-evident, that all men are created equal, that they are endowed by their Creator with certain unalienable Rights, that among these are Life, Liberty and the pursuit of Happiness.`;

const SPECIALS = ['<|endoftext|>', '<pad>', '<s>'];

/** Strings that stress the byte-level path: whitespace runs, newlines, accents, CJK, emoji. */
const TRICKY = [
  'Hello, world!',
  '  leading spaces and trailing   ',
  'tabs\tand\t\ttabs',
  'line one\nline two\n\n\nline five\r\nwindows line',
  '   \n  \n',
  ' ',
  "don't won't it's we'll they'd I'm you're we've",
  'punctuation: .,;:!?()[]{}<>/\\|`~@#$%^&*-_=+"\'',
  'numbers 0123456789 3.14159 -42 1e-9 1,000,000',
  'Ünïcödé façade naïve résumé coöperate Ærøskøbing',
  'combining: e\u0301 a\u0308 n\u0303',
  '日本語のテキストと中文和한국어',
  'Здравствуй, мир! Γειά σου Κόσμε! مرحبا بالعالم שלום',
  'emoji 👍 👍🏽 👨‍👩‍👧‍👦 🇫🇷 🏳️‍🌈 ❤️',
  'math ∑∫√∞≠≈ and symbols © ® ™ € £ ¥',
  'controls \u0000\u0001\u007f\u0085 and zero\u200bwidth \u00a0nbsp \ufeffbom',
  'special <|endoftext|> inside <pad>text<s>',
  'Nature. The world.',
  'x',
];

/** Deterministic PRNG so random round-trip strings are reproducible. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomString(rand: () => number, length: number): string {
  const ranges: [number, number][] = [
    [0x20, 0x7e], [0x20, 0x7e], [0x20, 0x7e], // mostly ASCII
    [0x09, 0x0d], // \t \n \v \f \r
    [0xa0, 0x17f], // Latin-1 + Latin Extended-A
    [0x400, 0x4ff], // Cyrillic
    [0x4e00, 0x4fff], // CJK
    [0x1f300, 0x1f64f], // emoji (astral: surrogate pairs in JS)
  ];
  let s = '';
  for (let i = 0; i < length; i++) {
    const [lo, hi] = ranges[Math.floor(rand() * ranges.length)];
    s += String.fromCodePoint(lo + Math.floor(rand() * (hi - lo + 1)));
  }
  return s;
}

function load(json: object): Tokenizer {
  // clean_up_tokenization_spaces: the library defaults it to true, which would turn " ." into ".".
  return new Tokenizer(json, { clean_up_tokenization_spaces: false });
}

function roundTrip(tok: Tokenizer, text: string): string {
  const ids = tok.encode(text, { add_special_tokens: false }).ids;
  return ids.length === 0 ? '' : tok.decode(ids);
}

// ---- Independent reference: GPT-2's encoder.py, written from scratch here. ----

function refBytesToUnicode(): Map<number, string> {
  const bs: number[] = [];
  for (let b = '!'.charCodeAt(0); b <= '~'.charCodeAt(0); b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  return new Map(bs.map((b, i) => [b, String.fromCharCode(cs[i])]));
}

const REF_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** Encodes like GPT-2: regex split, bytes -> unicode, then repeatedly merge the lowest-rank bigram. */
function referenceEncode(json: ByteLevelBpeTokenizerJson, text: string): number[] {
  const b2u = refBytesToUnicode();
  const ranks = new Map(json.model.merges.map((m, i) => [m, i]));
  const enc = new TextEncoder();
  const ids: number[] = [];
  for (const piece of text.match(REF_PATTERN) ?? []) {
    let word = Array.from(enc.encode(piece), (b) => b2u.get(b)!);
    while (word.length > 1) {
      let bestRank = Infinity;
      let best: [string, string] | null = null;
      for (let i = 0; i + 1 < word.length; i++) {
        const r = ranks.get(`${word[i]} ${word[i + 1]}`);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = [word[i], word[i + 1]];
        }
      }
      if (best === null) break;
      const next: string[] = [];
      for (let i = 0; i < word.length; i++) {
        if (i + 1 < word.length && word[i] === best[0] && word[i + 1] === best[1]) {
          next.push(best[0] + best[1]);
          i++;
        } else next.push(word[i]);
      }
      word = next;
    }
    for (const sym of word) ids.push(json.model.vocab[sym]);
  }
  return ids;
}

/** Naive trainer: full pair recount every merge. Checks the incremental bookkeeping. */
function naiveMerges(texts: string[], vocabSize: number, specials: string[], minFrequency: number): string[] {
  const b2u = refBytesToUnicode();
  const idOf = new Map<string, number>();
  const tokOf: string[] = [];
  const add = (t: string) => {
    if (!idOf.has(t)) {
      idOf.set(t, tokOf.length);
      tokOf.push(t);
    }
    return idOf.get(t)!;
  };
  specials.forEach(add);
  [...b2u.values()].sort((a, b) => a.charCodeAt(0) - b.charCodeAt(0)).forEach(add);
  const counts = new Map<string, number>();
  for (const t of texts) for (const w of t.match(REF_PATTERN) ?? []) counts.set(w, (counts.get(w) ?? 0) + 1);
  const enc = new TextEncoder();
  let words = [...counts].map(([w, c]) => ({ syms: Array.from(enc.encode(w), (b) => idOf.get(b2u.get(b)!)!), c }));
  const merges: string[] = [];
  while (tokOf.length < vocabSize) {
    const pc = new Map<string, number>();
    for (const { syms, c } of words) {
      for (let i = 0; i + 1 < syms.length; i++) {
        const k = `${syms[i]},${syms[i + 1]}`;
        pc.set(k, (pc.get(k) ?? 0) + c);
      }
    }
    let best: [number, number] | null = null;
    let bestCount = 0;
    for (const [k, c] of pc) {
      const [a, b] = k.split(',').map(Number);
      if (c > bestCount || (c === bestCount && best && (a < best[0] || (a === best[0] && b < best[1])))) {
        best = [a, b];
        bestCount = c;
      }
    }
    if (!best || bestCount < minFrequency) break;
    const [a, b] = best;
    const id = add(tokOf[a] + tokOf[b]);
    merges.push(`${tokOf[a]} ${tokOf[b]}`);
    words = words.map(({ syms, c }) => {
      const out: number[] = [];
      for (let i = 0; i < syms.length; i++) {
        if (i + 1 < syms.length && syms[i] === a && syms[i + 1] === b) {
          out.push(id);
          i++;
        } else out.push(syms[i]);
      }
      return { syms: out, c };
    });
  }
  return merges;
}

const SMALL_CORPUS = [
  'the cat sat on the mat. the cat ate the rat.',
  'that hat is the best hat; the bat sat in that hat!',
  'aaaa aaa aa banana bandana cabana 1234 12 123 4444',
  "it's the cat's hat, isn't it? they'll see.\n\nNew  lines   and   spaces.",
];

test('small corpus: JSON has the standard byte-level BPE layout', () => {
  const json = trainByteLevelBpe(SMALL_CORPUS, { vocabSize: 300, specialTokens: SPECIALS });
  assert.equal(json.model.type, 'BPE');
  assert.deepEqual(json.pre_tokenizer, { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true });
  assert.equal(json.decoder.type, 'ByteLevel');
  assert.equal(json.post_processor.type, 'ByteLevel');
  assert.equal(json.normalizer, null);
  assert.deepEqual(json.added_tokens.map((t) => [t.id, t.content, t.special, t.normalized]), [
    [0, '<|endoftext|>', true, false],
    [1, '<pad>', true, false],
    [2, '<s>', true, false],
  ]);
  const entries = Object.entries(json.model.vocab).sort((a, b) => a[1] - b[1]);
  assert.deepEqual(entries.map(([, id]) => id), entries.map((_, i) => i), 'ids are 0..N-1 without gaps');
  assert.deepEqual(entries.slice(0, 3).map(([t]) => t), SPECIALS);
  const base = entries.slice(3, 259).map(([t]) => t);
  assert.deepEqual([...base].sort(), [...byteLevelAlphabet()].sort(), '256 byte symbols follow the specials');
  assert.equal(base[0], '!');
  assert.equal(json.model.vocab['Ġ'], 3 + 256 - 68 + 32, 'space (byte 32) is the 33rd non-printable symbol');
  for (const m of json.model.merges) {
    const [a, b, extra] = m.split(' ');
    assert.equal(extra, undefined);
    assert.ok(a in json.model.vocab && b in json.model.vocab && a + b in json.model.vocab, m);
  }
  // JSON round-trip (what gets written to disk) is lossless.
  assert.deepEqual(JSON.parse(JSON.stringify(json)), json);
});

test('incremental pair counting gives the same merges as a naive full recount', () => {
  for (const [texts, vocabSize, minFrequency] of [
    [SMALL_CORPUS, 330, 1],
    [SMALL_CORPUS, 330, 2],
    [REAL_TEXT, 520, 2],
  ] as const) {
    const json = trainByteLevelBpe(texts, { vocabSize, specialTokens: SPECIALS, minFrequency });
    assert.deepEqual(json.model.merges, naiveMerges([...texts], vocabSize, SPECIALS, minFrequency));
  }
});

test('vocab size is exactly as requested when the corpus allows it, smaller when it runs out', () => {
  const json = trainByteLevelBpe(REAL_TEXT, { vocabSize: 500, specialTokens: SPECIALS });
  assert.equal(Object.keys(json.model.vocab).length, 500);
  assert.equal(load(json).get_vocab().size, 500);

  const tiny = trainByteLevelBpe(['ab ab ab xy'], { vocabSize: 1000, specialTokens: ['<s>'] });
  // 'ab' twice-or-more -> merges a+b, Ġ+a, Ġa+b; 'xy' once is below minFrequency 2.
  assert.deepEqual(tiny.model.merges, ['a b', 'Ġ ab']);
  assert.equal(Object.keys(tiny.model.vocab).length, 1 + 256 + 2);
  const strict = trainByteLevelBpe(['ab ab ab xy'], { vocabSize: 1000, specialTokens: [], minFrequency: 4 });
  assert.deepEqual(strict.model.merges, []);
  assert.equal(roundTrip(load(strict), 'ab xy ✓'), 'ab xy ✓');
});

test('trained tokenizer loads in @huggingface/tokenizers and round-trips arbitrary text exactly', () => {
  const json = trainByteLevelBpe(REAL_TEXT, { vocabSize: 600, specialTokens: SPECIALS, minFrequency: 1 });
  const fromDisk = JSON.parse(JSON.stringify(json)) as object;
  const tok = load(fromDisk);
  for (const s of [...TRICKY, ...REAL_TEXT, HELD_OUT]) assert.equal(roundTrip(tok, s), s, JSON.stringify(s));
  const rand = mulberry32(1234);
  for (let i = 0; i < 300; i++) {
    const s = randomString(rand, 1 + Math.floor(rand() * 40));
    assert.equal(roundTrip(tok, s), s, JSON.stringify(s));
  }
});

test('learned merges compress held-out text', () => {
  const json = trainByteLevelBpe(REAL_TEXT, { vocabSize: 600, specialTokens: SPECIALS });
  const ids = load(json).encode(HELD_OUT, { add_special_tokens: false }).ids;
  const bytes = new TextEncoder().encode(HELD_OUT).length;
  assert.ok(ids.length < 0.6 * bytes, `${ids.length} tokens for ${bytes} bytes`);
});

test('library encoding matches an independent GPT-2-style reference encoder', () => {
  const json = trainByteLevelBpe(REAL_TEXT, { vocabSize: 600, specialTokens: SPECIALS, minFrequency: 1 });
  const tok = load(json);
  const rand = mulberry32(99);
  const words = new Set<string>();
  for (const t of [HELD_OUT, ...REAL_TEXT]) for (const w of t.match(REF_PATTERN) ?? []) words.add(w);
  const letters = 'etaoinshrdlucmfwypvbgkjqxz';
  while (words.size < 600) {
    let w = rand() < 0.7 ? ' ' : '';
    const len = 1 + Math.floor(rand() * 10);
    for (let i = 0; i < len; i++) w += letters[Math.floor(Math.pow(rand(), 2) * letters.length)];
    words.add(w);
  }
  let multiToken = 0;
  for (const w of words) {
    const expected = referenceEncode(json, w);
    assert.deepEqual(tok.encode(w, { add_special_tokens: false }).ids, expected, JSON.stringify(w));
    if (expected.length > 1) multiToken++;
  }
  assert.ok(multiToken > 100, 'the comparison exercises real multi-step merging');
  // Whole passages too (pre-tokenization + merging together).
  for (const t of [HELD_OUT, TRICKY.join(' ').replace(/<\|endoftext\|>|<pad>|<s>/g, '')]) {
    assert.deepEqual(tok.encode(t, { add_special_tokens: false }).ids, referenceEncode(json, t));
  }
});

test('special tokens: ids 0..k-1, matched whole in text, never learned from the corpus', () => {
  const corpus = REAL_TEXT.map((t) => `<s>${t}<|endoftext|>`);
  const json = trainByteLevelBpe(corpus, { vocabSize: 600, specialTokens: SPECIALS });
  for (const token of Object.keys(json.model.vocab).filter((t) => !SPECIALS.includes(t))) {
    assert.ok(!token.includes('endoftext') && !token.includes('|>'), `special-token fragment learned: ${token}`);
  }
  const tok = load(json);
  assert.equal(tok.token_to_id('<|endoftext|>'), 0);
  assert.equal(tok.token_to_id('<pad>'), 1);
  assert.equal(tok.token_to_id('<s>'), 2);
  // Library behaviour: added_tokens are split out of the text before pre-tokenization,
  // so a special-token string in plain text encodes as that one id (as in HF tokenizers).
  const ids = tok.encode('<s>Hello world<|endoftext|>', { add_special_tokens: false }).ids;
  assert.equal(ids[0], 2);
  assert.equal(ids[ids.length - 1], 0);
  assert.ok(!ids.slice(1, -1).some((id) => id < 3));
  assert.equal(tok.decode(ids), '<s>Hello world<|endoftext|>');
  assert.equal(tok.decode(ids, { skip_special_tokens: true }), 'Hello world');
  // The ByteLevel post-processor adds nothing even with add_special_tokens: true.
  assert.deepEqual(tok.encode('Hello').ids, tok.encode('Hello', { add_special_tokens: false }).ids);
});

test('training is deterministic', () => {
  const a = trainByteLevelBpe(REAL_TEXT, { vocabSize: 600, specialTokens: SPECIALS });
  const b = trainByteLevelBpe([...REAL_TEXT].values(), { vocabSize: 600, specialTokens: SPECIALS });
  assert.equal(JSON.stringify(a), JSON.stringify(b));
});

test('lone surrogates are encoded like TextEncoder (as U+FFFD)', () => {
  const opts = { vocabSize: 300, specialTokens: [], minFrequency: 1 };
  const json = trainByteLevelBpe(['a\ud800b \udc00 x\udbff\udfff'], opts);
  assert.equal(JSON.stringify(json), JSON.stringify(trainByteLevelBpe(['a\ufffdb \ufffd x\u{10ffff}'], opts)));
  assert.equal(roundTrip(load(json), 'x\ud800y'), 'x\ufffdy');
});

test('invalid options fail with actionable errors', () => {
  assert.throws(() => trainByteLevelBpe(['x'], { vocabSize: 258, specialTokens: SPECIALS }), /vocabSize must be an integer in \[259,/);
  assert.throws(() => trainByteLevelBpe(['x'], { vocabSize: 300.5, specialTokens: [] }), /vocabSize/);
  assert.throws(() => trainByteLevelBpe(['x'], { vocabSize: 300, specialTokens: ['<s>', '<s>'] }), /listed twice/);
  assert.throws(() => trainByteLevelBpe(['x'], { vocabSize: 300, specialTokens: [''] }), /non-empty/);
  assert.throws(() => trainByteLevelBpe(['x'], { vocabSize: 300, specialTokens: ['!'] }), /collides with a byte-level base symbol/);
  assert.throws(() => trainByteLevelBpe(['x'], { vocabSize: 300, specialTokens: [], minFrequency: 0 }), /minFrequency/);
  assert.throws(() => trainByteLevelBpe([42 as unknown as string], { vocabSize: 300, specialTokens: [] }), /texts must be strings/);
});
