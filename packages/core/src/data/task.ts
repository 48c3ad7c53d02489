/**
 * What a fine-tuning / evaluation task is: either text classification scored by the likelihood of
 * a short completion, or plain language modelling. Plus the prompt formats of the built-in tasks,
 * kept short so prompt + completion fit a tiny model's 128-256 token context.
 */

/** One labelled example; `text` is the cleaned input that {@link ClassificationTask.prompt} formats. */
export interface ClassificationExample {
  text: string;
  /** Index into {@link ClassificationTask.labels}. */
  label: number;
}

/** The three fixed splits every task provides. */
export type SplitName = 'train' | 'validation' | 'test';

/** All split names, in canonical order. */
export const SPLIT_NAMES: readonly SplitName[] = ['train', 'validation', 'test'];

/**
 * Classification as conditional generation: the model scores `completion(label)` after
 * `prompt(text)` for every label and predicts the most likely one.
 */
export interface ClassificationTask {
  kind: 'classification';
  name: string;
  /** Label words, e.g. ['ham', 'spam']; index = label id. */
  labels: string[];
  /** Prompt for one example's text; ends right before the completion. */
  prompt(text: string): string;
  /** The text scored after the prompt for a label, e.g. ' spam' (leading space included). */
  completion(label: number): string;
  train: ClassificationExample[];
  validation: ClassificationExample[];
  test: ClassificationExample[];
}

/** Language modelling on documents or passages of plain text. */
export interface LmTask {
  kind: 'lm';
  name: string;
  train: string[];
  validation: string[];
  test: string[];
}

/** Any task; switch on `kind`. */
export type Task = ClassificationTask | LmTask;

/** Longest subject line kept in a spam prompt. */
const SPAM_SUBJECT_CHARS = 120;
/** Body characters kept in a spam prompt (~75-100 tokens for a small BPE vocabulary). */
const SPAM_BODY_CHARS = 300;
/** Passage characters kept in a genre prompt (passages are built at ~400 already). */
const GENRE_PASSAGE_CHARS = 480;

/** Cuts `text` to at most `maxChars`, preferring to end at a word boundary. */
export function truncateAtWord(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  const cut = text.lastIndexOf(' ', maxChars);
  return (cut > maxChars / 2 ? text.slice(0, cut) : text.slice(0, maxChars)).trimEnd();
}

/**
 * Joins an email's subject and cleaned body into the example text stored for the spam task:
 * "Subject: <subject>\n<body>" (the body must be whitespace-collapsed, i.e. contain no newline).
 */
export function spamExampleText(subject: string, body: string): string {
  return `Subject: ${subject}\n${body}`;
}

/**
 * Spam prompt: "Subject: <subject>\n<first ~300 chars of body>\nSpam or ham? Answer:".
 * Accepts the text made by {@link spamExampleText}; the completion is ' ham' or ' spam'.
 */
export function spamPrompt(text: string): string {
  const newline = text.indexOf('\n');
  const subjectLine = newline < 0 ? text : text.slice(0, newline);
  const body = newline < 0 ? '' : text.slice(newline + 1);
  return `${truncateAtWord(subjectLine, SPAM_SUBJECT_CHARS)}\n${truncateAtWord(body, SPAM_BODY_CHARS)}\nSpam or ham? Answer:`;
}

/** Genre prompt: "<passage ~400 chars>\nGenre:"; the completion is ' news', ' fiction', ... */
export function genrePrompt(passage: string): string {
  return `${truncateAtWord(passage, GENRE_PASSAGE_CHARS)}\nGenre:`;
}

/** Completion for a label: the label word with a leading space. Throws on an out-of-range label. */
export function labelCompletion(labels: readonly string[], label: number): string {
  if (!Number.isInteger(label) || label < 0 || label >= labels.length) {
    throw new Error(`label ${label} out of range: expected an integer in [0, ${labels.length}) for labels ${labels.join(', ')}`);
  }
  return ` ${labels[label]}`;
}

/** SST-2 prompt: "Review: <sentence>\nIs this review positive or negative? Answer:". */
export function sentimentPrompt(sentence: string): string {
  return `Review: ${sentence}\nIs this review positive or negative? Answer:`;
}

/** AG News prompt: "<title>\n<description>\nTopic: world, sports, business or technology? Answer:". */
export function newsTopicPrompt(text: string): string {
  return `${truncateAtWord(text, GENRE_PASSAGE_CHARS)}\nTopic: world, sports, business or technology? Answer:`;
}
