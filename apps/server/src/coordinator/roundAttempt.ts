/**
 * One attempt at one round: the assignments handed out, their outcomes, and the moment the
 * coordinator stops waiting (every assignment settled, the deadline passed, or the attempt was
 * aborted by pause/stop). An assignment settles exactly once; later outcomes are refused.
 */
import type { ClientTask, LoraAdapter, SubmodelPlan, UpdateMeta } from '@fedllm/core';

export type TaskStatus = 'assigned' | 'received' | 'rejected' | 'failed' | 'timeout' | 'abandoned';

export interface TaskRecord {
  taskId: string;
  clientId: string;
  label?: string;
  round: number;
  plan: SubmodelPlan;
  budgetBytes: number;
  estimateBytes: number;
  shard: number;
  issuedAt: number;
  deadline: number;
  status: TaskStatus;
  /** Payload bytes sent to the tab (batches + adapter) and, once reported, model parts it downloaded. */
  bytesDown: number;
  bytesUp: number;
  reason?: string;
  meta?: UpdateMeta;
  adapter?: LoraAdapter;
  numSamples?: number;
  /** What the strategy gave the tab, handed back to it with the update (in memory only: a restarted coordinator re-runs the round). */
  task: ClientTask;
}

export type AttemptEnd = 'settled' | 'deadline' | 'aborted';

export class RoundAttempt {
  readonly tasks = new Map<string, TaskRecord>();
  readonly done: Promise<AttemptEnd>;
  private finish!: (end: AttemptEnd) => void;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private ended: AttemptEnd | undefined;
  readonly startedAt = Date.now();

  constructor(readonly round: number, readonly attempt: number, readonly deadline: number) {
    this.done = new Promise((resolve) => {
      this.finish = (end) => {
        if (this.ended) return;
        this.ended = end;
        clearTimeout(this.timer);
        resolve(end);
      };
    });
  }

  get isOpen(): boolean {
    return this.ended === undefined;
  }

  add(t: TaskRecord): void {
    this.tasks.set(t.taskId, t);
  }

  /** Starts the deadline clock once every assignment is out. */
  arm(): void {
    if (this.tasks.size === 0) return this.finish('settled');
    this.timer = setTimeout(() => this.finish('deadline'), Math.max(0, this.deadline - Date.now()));
    this.timer.unref?.();
    this.checkSettled();
  }

  /** Records an outcome; false if the task had already settled (the caller refuses it as a duplicate). */
  settle(taskId: string, status: Exclude<TaskStatus, 'assigned'>, fields: Partial<TaskRecord> = {}): boolean {
    const t = this.tasks.get(taskId);
    if (!t || t.status !== 'assigned') return false;
    Object.assign(t, fields);
    t.status = status;
    this.checkSettled();
    return true;
  }

  abort(): void {
    this.finish('aborted');
  }

  /** Assignments still out when the attempt ended become timeouts (deadline) or abandoned (abort). */
  closeOutstanding(status: 'timeout' | 'abandoned'): TaskRecord[] {
    const out: TaskRecord[] = [];
    for (const t of this.tasks.values()) {
      if (t.status === 'assigned') {
        t.status = status;
        t.reason = status === 'timeout' ? 'no update before the deadline' : 'round attempt abandoned';
        out.push(t);
      }
    }
    return out;
  }

  received(): TaskRecord[] {
    return [...this.tasks.values()].filter((t) => t.status === 'received');
  }

  private checkSettled(): void {
    if (this.timer !== undefined && [...this.tasks.values()].every((t) => t.status !== 'assigned')) this.finish('settled');
  }
}
