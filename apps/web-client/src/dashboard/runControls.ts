/**
 * The run's status line and its buttons: Start (the run just created, or a created one from the
 * history), Pause, Resume and Stop (the active run). Each press is an admin request; a refusal is
 * shown next to the buttons.
 */
import type { CoordinatorSnapshot } from '@fedllm/core';
import { byId } from './dom';

export type RunAction = 'start' | 'pause' | 'resume' | 'stop';

export class RunControls {
  private readonly box = byId('run-status');
  private readonly summary = byId('run-summary');
  private readonly message = byId('run-message');
  private readonly buttons = {
    start: byId<HTMLButtonElement>('run-start'), pause: byId<HTMLButtonElement>('run-pause'),
    resume: byId<HTMLButtonElement>('run-resume'), stop: byId<HTMLButtonElement>('run-stop'),
  };
  private state: CoordinatorSnapshot | undefined;
  /** A created run waiting to be started. */
  private pending: string | undefined;
  private connected = false;

  constructor(act: (action: RunAction, runId: string) => Promise<void>) {
    for (const action of Object.keys(this.buttons) as RunAction[]) {
      this.buttons[action].addEventListener('click', () => {
        const runId = action === 'start' ? this.pending : this.state?.runId;
        if (!runId) return;
        this.message.textContent = '';
        act(action, runId).then(
          () => { if (action === 'start') this.pending = undefined; this.render(); },
          (e: unknown) => { this.message.textContent = `${action} refused: ${(e as Error).message}`; },
        );
      });
    }
  }

  setPending(runId: string | undefined): void {
    this.pending = runId;
    this.render();
  }

  setConnected(c: boolean): void {
    this.connected = c;
    this.render();
  }

  show(s: CoordinatorSnapshot): void {
    this.state = s;
    if (this.pending && this.pending === s.runId) this.pending = undefined;
    this.render();
  }

  private render(): void {
    const s = this.state;
    const status = s?.status ?? 'idle';
    this.box.dataset.status = status;
    this.box.dataset.runId = s?.runId ?? '';
    this.box.dataset.round = String(s?.round ?? 0);
    const total = s?.settings?.rounds ?? 0;
    const done = s?.rounds.length ?? 0;
    const active = s?.runId
      ? `${s.settings?.name ?? 'run'} (${s.runId}): ${status}, ${done}/${total} round(s) committed${status === 'running' ? `, round ${s.round} in progress` : ''}`
      : 'No run is active.';
    this.summary.textContent = this.pending ? `${active} Created, not started: ${this.pending}.` : active;
    const live = status === 'running' || status === 'paused';
    this.buttons.start.disabled = !this.connected || !this.pending || live;
    this.buttons.pause.disabled = !this.connected || status !== 'running';
    this.buttons.resume.disabled = !this.connected || status !== 'paused';
    this.buttons.stop.disabled = !this.connected || !live;
  }
}
