/**
 * Classification prompts in an instruct model's own chat format. The task's plain prompt becomes
 * the user turn, rendered with the tokenizer's Jinja chat_template (@huggingface/jinja, the engine
 * transformers.js uses) with the generation prompt appended; the label completion starts the
 * assistant turn, so it loses its leading space.
 */
import { Template } from '@huggingface/jinja';
import type { TextTokenizer } from '../tokenizer/textTokenizer';
import type { ClassificationTask, Task } from './task';

/** Renders a chat template for one user message, ready for the assistant's answer. */
export function renderChatPrompt(template: Template, userText: string, specials: { bos_token?: string; eos_token?: string }): string {
  return template.render({ messages: [{ role: 'user', content: userText }], add_generation_prompt: true, ...specials });
}

/**
 * The task as the model should see it: chat-formatted when the tokenizer has a chat template
 * (instruct models), unchanged otherwise (base models, LM tasks).
 * @throws Error when the chat template does not parse.
 */
export function taskForModel<T extends Task>(task: T, tokenizer: TextTokenizer): T {
  if (task.kind !== 'classification' || tokenizer.chatTemplate === undefined) return task;
  let template: Template;
  try {
    template = new Template(tokenizer.chatTemplate);
  } catch (e) {
    throw new Error(`the tokenizer's chat_template does not parse: ${(e as Error).message}`);
  }
  const plain: ClassificationTask = task;
  const chat: ClassificationTask = {
    ...plain,
    prompt: (text) => renderChatPrompt(template, plain.prompt(text), tokenizer.specialTokenTexts),
    completion: (label) => plain.completion(label).trimStart(),
  };
  return chat as T;
}
