import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { TextTokenizer, taskForModel } from '../src/index';
import { loadTask } from '../src/node/index';

const tokenizerJson = JSON.parse(readFileSync(fileURLToPath(new URL('../../../models/tiny-brown-llama/tokenizer.json', import.meta.url)), 'utf8'));
// SmolLM2-Instruct's template (ChatML with a default system turn), as its GGUF carries it.
const CHATML = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

test('a classification task takes the chat format of a tokenizer with a chat template, and only then', () => {
  const sst2 = loadTask('sst2');
  const text = sst2.test[0].text;
  const chat = taskForModel(sst2, new TextTokenizer(tokenizerJson, { chat_template: CHATML }));
  assert.equal(
    chat.prompt(text),
    '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' +
      `<|im_start|>user\nReview: ${text}\nIs this review positive or negative? Answer:<|im_end|>\n<|im_start|>assistant\n`,
  );
  assert.deepEqual([chat.completion(0), chat.completion(1)], ['negative', 'positive']);
  assert.equal(chat.test, sst2.test);

  const plain = taskForModel(sst2, new TextTokenizer(tokenizerJson));
  assert.equal(plain, sst2);
  const lm = loadTask('brown-lm');
  assert.equal(taskForModel(lm, new TextTokenizer(tokenizerJson, { chat_template: CHATML })), lm);
  assert.throws(() => taskForModel(sst2, new TextTokenizer(tokenizerJson, { chat_template: '{% for %}' })), /chat_template does not parse/);
});
