/**
 * The training-data section: by default the coordinator assigns data; a volunteer may pick a
 * text or JSONL file instead, which is parsed here at once (so a malformed line is reported before
 * joining) and never leaves the tab.
 */
import { LocalDataset, type LocalDatasetOptions } from '../federated/localDataset';
import { byId } from './dom';
import { formatBytes } from './format';

/** What the tab trains on: assigned data, a valid local file, or a file that was refused. */
export type DataChoice = { kind: 'assigned' } | { kind: 'local'; dataset: LocalDataset } | { kind: 'invalid'; error: string };

export class LocalFileControl {
  private choice: DataChoice = { kind: 'assigned' };
  private readonly input = byId<HTMLInputElement>('local-file');
  private readonly clear = byId<HTMLButtonElement>('local-clear');
  private readonly summary = byId('local-summary');
  /** Bumped per pick, so that a slow read of an earlier file cannot overwrite a later one. */
  private pick = 0;

  constructor(private readonly datasetOptions: LocalDatasetOptions, private readonly onChange: () => void) {
    this.input.addEventListener('change', () => void this.onPick());
    this.clear.addEventListener('click', () => {
      this.input.value = '';
      this.pick++;
      this.set({ kind: 'assigned' });
    });
  }

  current(): DataChoice {
    return this.choice;
  }

  setLocked(locked: boolean): void {
    this.input.disabled = locked;
    this.clear.disabled = locked;
  }

  private async onPick(): Promise<void> {
    const file = this.input.files?.[0];
    const pick = ++this.pick;
    if (!file) return this.set({ kind: 'assigned' });
    this.summary.dataset.state = 'reading';
    this.summary.textContent = `Reading ${file.name}…`;
    let next: DataChoice;
    try {
      next = { kind: 'local', dataset: await LocalDataset.fromFile(file, this.datasetOptions) };
    } catch (e) {
      next = { kind: 'invalid', error: (e as Error).message };
    }
    if (pick === this.pick) this.set(next);
  }

  private set(c: DataChoice): void {
    this.choice = c;
    this.clear.hidden = c.kind === 'assigned';
    this.summary.dataset.state = c.kind;
    this.summary.classList.toggle('error', c.kind === 'invalid');
    if (c.kind === 'assigned') this.summary.textContent = 'Using the data the coordinator assigns.';
    else if (c.kind === 'invalid') this.summary.textContent = `This file cannot be used: ${c.error}`;
    else {
      const s = c.dataset.summary();
      const parts = [s.textExamples ? `${s.textExamples} text example(s)` : '', s.completionExamples ? `${s.completionExamples} prompt/completion example(s)` : ''].filter(Boolean);
      this.summary.textContent = `Training on ${s.fileName} (${formatBytes(s.bytes)}: ${parts.join(', ')}). It is tokenized in this tab when the first round starts.`;
    }
    this.onChange();
  }
}
