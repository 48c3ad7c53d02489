import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BROWN_GENRES,
  brownParagraphs,
  detokenizeBrown,
  parseBrownCategories,
  splitIntoPassages,
} from '../src/data/brownText';

test('detokenizeBrown strips tags and attaches punctuation', () => {
  const tagged =
    "\n\n\tThe/at Fulton/np-tl County/nn-tl Grand/jj-tl Jury/nn-tl said/vbd Friday/nr an/at investigation/nn of/in Atlanta's/np$ recent/jj primary/nn election/nn produced/vbd ``/`` no/at evidence/nn ''/'' that/cs any/dti irregularities/nns took/vbd place/nn ./.\n";
  assert.equal(
    detokenizeBrown(tagged),
    'The Fulton County Grand Jury said Friday an investigation of Atlanta\'s recent primary election produced "no evidence" that any irregularities took place.',
  );
});

test('detokenizeBrown: tag after the LAST slash, contractions, brackets, dashes', () => {
  assert.equal(detokenizeBrown('It/pps cost/vbd 1-1/2/cd dollars/nns and/or/cc more/ap ./.'), 'It cost 1-1/2 dollars and/or more.');
  assert.equal(detokenizeBrown("He/pps did/dod n't/* go/vb ,/, he/pps 's/bez here/rb ;/. ok/uh !/."), "He didn't go, he's here; ok!");
  assert.equal(detokenizeBrown('a/at test/nn (/( see/vb below/rb )/) --/-- done/vbn :/: yes/rb ?/.'), 'a test (see below) -- done: yes?');
  assert.equal(detokenizeBrown('a/at //in b/nn'), 'a / b');
});

test('detokenizeBrown keeps paragraph breaks and joins sentences within a paragraph', () => {
  const tagged = '\n\n\tOne/cd ./.\nTwo/cd ./.\n\n\n\tThree/cd ./.\n';
  assert.equal(detokenizeBrown(tagged), 'One. Two.\nThree.');
  assert.deepEqual(brownParagraphs(tagged), [['One.', 'Two.'], ['Three.']]);
});

test('detokenizeBrown puts headlines on their own line', () => {
  const tagged = 'Merger/nn-hl proposed/vbn-hl \nHowever/wrb ,/, it/pps is/bez ./.';
  assert.equal(detokenizeBrown(tagged), 'Merger proposed\nHowever, it is.');
});

test('detokenizeBrown repairs corpus artifacts: doubled punctuation, "Jr. .", punctuation after closing quote', () => {
  assert.equal(detokenizeBrown('Ann/np ;/. ;/. why/wrb ?/. ?/.'), 'Ann; why?');
  assert.equal(detokenizeBrown('won/vbn by/in Allen/np Jr./np ./.'), 'won by Allen Jr.');
  assert.equal(
    detokenizeBrown("``/`` Only/rb a/at few/ap ''/'' ,/, the/at jury/nn said/vbd ,/, ``/`` in/in this/dt city/nn ''/'' ./."),
    '"Only a few," the jury said, "in this city."',
  );
  // A line that starts with closing punctuation belongs to the previous sentence.
  assert.equal(detokenizeBrown('(/( remember/vb him/ppo ?/. ?/.\n)/) ,/, he/pps said/vbd ./.'), '(remember him?), he said.');
});

test('detokenizeBrown alternates bare single quotes open/close', () => {
  assert.equal(detokenizeBrown("the/at '/' best/jjt '/' one/cd ./."), "the 'best' one.");
});

test('parseBrownCategories maps file ids to categories and rejects malformed lines', () => {
  const cats = parseBrownCategories('ca01 news\nck02 fiction\n\n');
  assert.equal(cats.get('ca01'), 'news');
  assert.equal(cats.get('ck02'), 'fiction');
  assert.equal(cats.size, 2);
  assert.throws(() => parseBrownCategories('ca01 news\nbroken line here\n'), /line 2/);
});

test('BROWN_GENRES lists 15 distinct categories with distinct single-word labels', () => {
  assert.equal(BROWN_GENRES.length, 15);
  assert.equal(new Set(BROWN_GENRES.map((g) => g.category)).size, 15);
  assert.equal(new Set(BROWN_GENRES.map((g) => g.word)).size, 15);
  for (const g of BROWN_GENRES) assert.match(g.word, /^[a-z]+$/);
});

test('splitIntoPassages cuts at sentence boundaries near the target length and loses no text', () => {
  const sentence = (i: number) => `Sentence number ${i} has a few words in it to pad it out nicely.`;
  const paragraphs: string[][] = [];
  for (let p = 0; p < 20; p++) paragraphs.push(Array.from({ length: 1 + (p % 4) }, (_, j) => sentence(p * 10 + j)));
  paragraphs.push(['x'.repeat(5) + ' ' + 'word '.repeat(300).trim()]); // one over-long sentence
  const passages = splitIntoPassages(paragraphs, 200);
  for (const p of passages.slice(0, -1)) {
    assert.ok(p.length >= 50 && p.length <= 300, `passage length ${p.length}`);
  }
  const words = (s: string) => s.split(/\s+/).filter(Boolean);
  assert.deepEqual(words(passages.join(' ')), words(paragraphs.flat().join(' ')));
  assert.throws(() => splitIntoPassages(paragraphs, 0), /targetChars/);
});
