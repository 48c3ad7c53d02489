/**
 * Downloads of a committed round: the global adapter (PEFT layout) and the merged model
 * (model.safetensors + config.json + tokenizer.json). The operator picks the round; files are
 * fetched with the admin token and saved as <run>-round-NNNN-<file>.
 */
import type { RoundSummary } from '@fedllm/core';
import { formatBytes } from '../volunteer/format';
import { downloadAs, roundFilePath } from './authorizedFetch';
import { byId } from './dom';

export class ModelPanel {
  private readonly select = byId<HTMLSelectElement>('model-round');
  private readonly message = byId('download-message');
  private runId: string | undefined;
  private rounds: number[] = [];

  constructor(token: () => string | undefined) {
    for (const b of byId('downloads').querySelectorAll<HTMLButtonElement>('button[data-download]')) {
      b.addEventListener('click', () => {
        const t = token(), round = Number(this.select.value);
        if (!t || !this.runId || this.select.value === '') return void (this.message.textContent = 'No committed round to download yet.');
        const file = b.dataset.download!;
        const name = `${this.runId}-round-${String(round).padStart(4, '0')}-${file.split('/').pop()}`;
        this.message.textContent = `Downloading ${name}…`;
        downloadAs(roundFilePath(this.runId, round, file), t, name).then(
          (n) => { this.message.textContent = `Saved ${name} (${formatBytes(n)}).`; },
          (e: unknown) => { this.message.textContent = `Download failed: ${(e as Error).message}`; },
        );
      });
    }
    this.refreshButtons();
  }

  show(runId: string | null, rounds: RoundSummary[]): void {
    const list = rounds.map((r) => r.round);
    if (runId === this.runId && list.join() === this.rounds.join()) return;
    const keepLatest = this.select.value === '' || Number(this.select.value) === this.rounds[this.rounds.length - 1] || runId !== this.runId;
    this.runId = runId ?? undefined;
    this.rounds = list;
    const previous = this.select.value;
    this.select.replaceChildren(...(list.length ? list : [undefined]).map((r) => {
      const o = document.createElement('option');
      o.value = r === undefined ? '' : String(r);
      o.textContent = r === undefined ? 'none yet' : `round ${r}${r === list[list.length - 1] ? ' (latest)' : ''}`;
      return o;
    }));
    this.select.value = keepLatest || !list.includes(Number(previous)) ? (list.length ? String(list[list.length - 1]) : '') : previous;
    this.refreshButtons();
  }

  private refreshButtons(): void {
    const none = this.rounds.length === 0;
    this.select.disabled = none;
    for (const b of byId('downloads').querySelectorAll<HTMLButtonElement>('button')) b.disabled = none;
  }
}
