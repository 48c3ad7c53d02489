/**
 * "Try it": continues a prompt with the current global adapter (the active run's latest committed
 * round; the base model before the first) on the CPU engine in a dedicated worker, so the page
 * stays responsive. The model is fetched once per model id, the adapter once per round.
 */
import * as Comlink from 'comlink';
import type { CoordinatorSnapshot } from '@fedllm/core';
import { formatBytes } from '../volunteer/format';
import { authorizedFetch, roundFilePath } from './authorizedFetch';
import { byId } from './dom';
import type { GenerationWorkerApi } from './generationApi';

export class TryItPanel {
  private readonly output = byId('try-output');
  private readonly source = byId('try-source');
  private readonly button = byId<HTMLButtonElement>('try-generate');
  private worker: Comlink.Remote<GenerationWorkerApi> | undefined;
  private modelId: string | undefined;
  private adapterKey: string | undefined;
  private state: CoordinatorSnapshot | undefined;

  constructor(private readonly token: () => string | undefined) {
    byId('try-form').addEventListener('submit', (e) => {
      e.preventDefault();
      void this.generate();
    });
    this.describe();
  }

  show(s: CoordinatorSnapshot): void {
    this.state = s;
    this.describe();
  }

  /** The adapter "try it" uses now: the latest committed round of the active run. */
  private current(): { runId: string; round: number } | undefined {
    const s = this.state;
    const last = s?.rounds[s.rounds.length - 1];
    return s?.runId && last ? { runId: s.runId, round: last.round } : undefined;
  }

  private describe(): void {
    const c = this.current();
    this.source.textContent = c ? `Generates with the global adapter of ${c.runId} round ${c.round}, on the CPU in a worker.` : 'No round committed yet: generates with the base model, on the CPU in a worker.';
  }

  private async generate(): Promise<void> {
    const s = this.state, token = this.token();
    if (!s?.model || !token) return this.say('error', 'Connect with the admin token first.');
    this.button.disabled = true;
    try {
      this.worker ??= Comlink.wrap<GenerationWorkerApi>(new Worker(new URL('./generationWorker.ts', import.meta.url), { type: 'module', name: 'generation' }));
      if (this.modelId !== s.model.id) {
        this.say('loading', `Loading ${s.model.dir} into the worker…`);
        const m = await this.worker.loadModel({ configUrl: s.model.configUrl, tokenizerUrl: s.model.tokenizerUrl, partUrls: s.model.partUrls });
        this.modelId = s.model.id;
        this.adapterKey = undefined;
        this.say('loading', `Loaded ${m.numLayers} layers (${formatBytes(m.bytes)}).`);
      }
      const c = this.current();
      const key = c ? `${c.runId}/${c.round}` : 'base';
      if (this.adapterKey !== key) {
        if (c) {
          const [configJson, weights] = await Promise.all([
            authorizedFetch(roundFilePath(c.runId, c.round, 'adapter/adapter_config.json'), token).then((r) => r.text()),
            authorizedFetch(roundFilePath(c.runId, c.round, 'adapter/adapter_model.safetensors'), token).then(async (r) => new Uint8Array(await r.arrayBuffer())),
          ]);
          await this.worker.setAdapter(Comlink.transfer({ configJson, weights }, [weights.buffer]));
        } else {
          await this.worker.setAdapter(null);
        }
        this.adapterKey = key;
      }
      this.say('generating', 'Generating…');
      const prompt = byId<HTMLTextAreaElement>('try-prompt').value;
      const r = await this.worker.generate(prompt, {
        maxNewTokens: clampInt(byId<HTMLInputElement>('try-tokens').value, 1, 200, 40),
        temperature: Math.max(0, Number(byId<HTMLInputElement>('try-temperature').value) || 0),
        topK: 40, seed: Math.floor(Math.random() * 2 ** 31),
      });
      this.say('done', r.text);
      this.output.dataset.tokens = String(r.tokens);
      this.output.dataset.adapter = key;
      this.source.textContent = `${key === 'base' ? 'Base model' : `Adapter of ${key.replace('/', ' round ')}`}: ${r.tokens} tokens in ${(r.ms / 1000).toFixed(1)} s on the CPU engine.`;
    } catch (e) {
      this.say('error', `Generation failed: ${(e as Error).message}`);
    } finally {
      this.button.disabled = false;
    }
  }

  private say(state: string, text: string): void {
    this.output.dataset.state = state;
    this.output.textContent = text;
  }
}

function clampInt(v: string, lo: number, hi: number, dflt: number): number {
  const n = Math.round(Number(v));
  return Number.isFinite(n) ? Math.min(hi, Math.max(lo, n)) : dflt;
}
