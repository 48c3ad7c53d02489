/**
 * Turning the POS-tagged Brown corpus ("The/at Fulton/np-tl County/nn-tl ... ./.") into natural
 * plain text, and reading its category list. Environment-neutral: callers pass file contents in.
 *
 * File layout: paragraphs are separated by blank lines; within a paragraph each line is one
 * sentence (the first usually starts with a tab); headlines are lines whose tags all end in "-hl".
 */

/**
 * The 15 Brown categories in the corpus' own order (sections A..R), each with the one plain word
 * used as its classification label. Label index = position in this list.
 */
export const BROWN_GENRES: readonly { category: string; word: string }[] = [
  { category: 'news', word: 'news' }, // A  press: reportage
  { category: 'editorial', word: 'editorial' }, // B  press: editorial
  { category: 'reviews', word: 'review' }, // C  press: reviews
  { category: 'religion', word: 'religion' }, // D
  { category: 'hobbies', word: 'hobby' }, // E  skills and hobbies
  { category: 'lore', word: 'lore' }, // F  popular lore
  { category: 'belles_lettres', word: 'essay' }, // G  belles lettres, biography, memoirs
  { category: 'government', word: 'government' }, // H  miscellaneous: government documents, reports
  { category: 'learned', word: 'academic' }, // J  learned / scientific writing
  { category: 'fiction', word: 'fiction' }, // K  general fiction
  { category: 'mystery', word: 'mystery' }, // L  mystery and detective fiction
  { category: 'science_fiction', word: 'scifi' }, // M  science fiction
  { category: 'adventure', word: 'adventure' }, // N  adventure and western fiction
  { category: 'romance', word: 'romance' }, // P  romance and love story
  { category: 'humor', word: 'humor' }, // R  humor
];

// Tokens that attach to the word before them (no space in front).
const ATTACH_LEFT = new Set([
  ',', '.', ';', ':', '!', '?', ')', ']', '}', "''", '%', '...',
  "n't", "'s", "'S", "'re", "'ve", "'ll", "'d", "'m", "'t",
]);
// Tokens that attach to the word after them (no space behind).
const ATTACH_RIGHT = new Set(['``', '(', '[', '{']);

/** Strips the POS tag: it follows the LAST slash (words such as "1/2" or "and/or" contain slashes). */
function wordOf(token: string): string {
  const slash = token.lastIndexOf('/');
  return slash > 0 ? token.slice(0, slash) : token;
}

function isHeadline(tokens: string[]): boolean {
  return tokens.length > 0 && tokens.every((t) => /\/[^/]*-hl$/.test(t));
}

// Punctuation this copy of the corpus doubles ("Ann ;/. ;/." for every semicolon, ?, !).
const DOUBLED_PUNCTUATION = new Set([';', '?', '!', ':', ',']);
// Punctuation the corpus puts after a closing '' although American text has it inside: "city".
const INSIDE_CLOSING_QUOTE = new Set(['.', ',', '?', '!']);

/** Repairs corpus artifacts in a sentence's words: doubled punctuation, "Jr. .", quote/period order. */
function normalizeWords(raw: string[]): string[] {
  const words: string[] = [];
  for (const word of raw) {
    const prev = words[words.length - 1];
    if (prev === word && DOUBLED_PUNCTUATION.has(word)) continue;
    if (word === '.' && prev !== undefined && prev.length > 1 && prev.endsWith('.')) continue; // "Jr." + "."
    words.push(word);
  }
  for (let i = 0; i + 1 < words.length; i++) {
    if (words[i] === "''" && INSIDE_CLOSING_QUOTE.has(words[i + 1])) {
      words[i] = words[i + 1];
      words[i + 1] = "''";
      i++;
    }
  }
  return words;
}

/**
 * Joins the words of one sentence with natural spacing; `quote` tracks open single quotes.
 * `gluesLeft` says the line starts with closing punctuation, e.g. a ")" after a "?" line break.
 */
function detokenizeSentence(tokens: string[], quote: { open: boolean }): { text: string; gluesLeft: boolean } {
  let out = '';
  let gluesLeft = false;
  let glueNext = true; // no space before the first word
  for (const word of normalizeWords(tokens.map(wordOf))) {
    let glueLeft = ATTACH_LEFT.has(word);
    let glueRight = ATTACH_RIGHT.has(word);
    if (word === "'") {
      // A bare single quote is ambiguous: alternate opening/closing within a paragraph.
      glueLeft = quote.open;
      glueRight = !quote.open;
      quote.open = !quote.open;
    }
    const text = word === '``' || word === "''" ? '"' : word;
    if (out === '') gluesLeft = glueLeft;
    else if (!glueNext && !glueLeft) out += ' ';
    out += text;
    glueNext = glueRight;
  }
  return { text: out, gluesLeft };
}

/**
 * Parses tagged Brown text into paragraphs of plain-text sentences. Headlines become their own
 * one-sentence paragraphs. Empty paragraphs are dropped.
 */
export function brownParagraphs(tagged: string): string[][] {
  const paragraphs: string[][] = [];
  for (const block of tagged.split(/\r?\n[ \t]*\r?\n/)) {
    let current: string[] = [];
    const quote = { open: false };
    for (const line of block.split(/\r?\n/)) {
      const tokens = line.trim().split(/\s+/).filter((t) => t !== '');
      if (tokens.length === 0) continue;
      const sentence = detokenizeSentence(tokens, quote);
      if (isHeadline(tokens)) {
        if (current.length > 0) paragraphs.push(current);
        paragraphs.push([sentence.text]);
        current = [];
      } else if (sentence.gluesLeft && current.length > 0) {
        current[current.length - 1] += sentence.text; // line starts with ")" etc.: belongs to the previous one
      } else {
        current.push(sentence.text);
      }
    }
    if (current.length > 0) paragraphs.push(current);
  }
  return paragraphs;
}

/**
 * Tagged Brown text -> natural plain text: tags stripped, punctuation attached (no space before
 * `, . ; : ! ? ) n't 's`, none after opening brackets), `` and '' mapped to ", sentences of a
 * paragraph joined by spaces, paragraphs separated by "\n". Also repairs the corpus' artifacts:
 * doubled `; ? !`, a period after an abbreviation ("Jr. ."), and `. , ? !` placed after a closing
 * quote (moved inside, as in the original American text).
 */
export function detokenizeBrown(tagged: string): string {
  return brownParagraphs(tagged)
    .map((sentences) => sentences.join(' '))
    .join('\n');
}

/**
 * Groups paragraphs of sentences into passages of about `targetChars` characters, cutting only at
 * sentence boundaries (preferring paragraph boundaries); a single over-long sentence is cut at a
 * space. Sentences in a passage are joined by " ", paragraphs by "\n". A short tail is merged
 * into the previous passage so no passage is tiny.
 */
export function splitIntoPassages(paragraphs: string[][], targetChars = 400): string[] {
  if (!(targetChars >= 16)) throw new Error(`splitIntoPassages: targetChars must be >= 16, got ${targetChars}`);
  const maxChars = Math.round(targetChars * 1.5);
  const minChars = Math.round(targetChars / 4);
  const passages: string[] = [];
  let current = '';
  const flush = () => {
    if (current !== '') passages.push(current);
    current = '';
  };
  for (const paragraph of paragraphs) {
    // Prefer to start a new passage at a paragraph boundary once the current one is half full.
    if (current.length >= targetChars / 2) flush();
    paragraph.forEach((sentence, i) => {
      const sep = current === '' ? '' : i === 0 ? '\n' : ' ';
      if (current !== '' && current.length + sep.length + sentence.length > maxChars && current.length >= targetChars / 2) {
        flush();
        current = sentence;
      } else {
        current += sep + sentence;
      }
      while (current.length > maxChars) {
        let cut = current.lastIndexOf(' ', targetChars);
        if (cut < minChars) cut = current.indexOf(' ', targetChars);
        if (cut < 0) break; // one giant "word": leave it whole
        passages.push(current.slice(0, cut));
        current = current.slice(cut + 1);
      }
      if (current.length >= targetChars) flush();
    });
  }
  if (current !== '') {
    if (current.length < minChars && passages.length > 0) passages[passages.length - 1] += '\n' + current;
    else passages.push(current);
  }
  return passages;
}

/**
 * Parses the corpus' cats.txt ("ca01 news" per line) into a map file id -> category name.
 * Throws on a malformed line, naming it.
 */
export function parseBrownCategories(catsTxt: string): Map<string, string> {
  const categories = new Map<string, string>();
  catsTxt.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    const parts = line.split(/\s+/);
    if (parts.length !== 2) throw new Error(`parseBrownCategories: line ${i + 1} is not "<file> <category>": ${JSON.stringify(raw)}`);
    categories.set(parts[0], parts[1]);
  });
  return categories;
}
