/**
 * The run's training data, held by the coordinator: the task's training split, each example
 * tokenized when first used (SST-2 has 67k sentences: tokenizing them all through a chat template
 * would hold the event loop for seconds when a run opens), cut into shards (IID or Dirichlet label skew), and turned into the token batches of one
 * assignment. Each assignment draws its examples from one shard with a seed derived from
 * (run seed, round, shard), so a re-run round after a restart assigns the same data.
 */
import {
  completionBatch, partitionDirichlet, partitionIid, partitionNatural, SeededRandom, stableHash32, type ClassificationTask, type RunSettings,
  type TextTokenizer, type TokenBatch,
} from '@fedllm/core';

export interface AssignmentBatches {
  inputIds: Int32Array;
  targets: Int32Array;
  numSamples: number;
}

export class TaskData {
  private readonly tokenized = new Map<number, { prompt: number[]; completion: number[] }>();
  readonly shards: number[][];

  constructor(readonly task: ClassificationTask, private readonly tok: TextTokenizer, private readonly settings: RunSettings) {
    const n = task.train.length, k = settings.shards;
    const p = settings.partition;
    this.shards = p.kind === 'iid'
      ? partitionIid(n, k, settings.seed)
      : p.kind === 'natural'
        ? partitionNatural(task.train.map((e) => e.label), k, settings.seed)
        : partitionDirichlet(task.train.map((e) => e.label), k, p.alpha, settings.seed);
  }

  /** Training example i, tokenized (once). */
  private example(i: number): { prompt: number[]; completion: number[] } {
    let e = this.tokenized.get(i);
    if (!e) {
      const x = this.task.train[i];
      this.tokenized.set(i, (e = { prompt: this.tok.encode(this.task.prompt(x.text)), completion: this.tok.encode(this.task.completion(x.label)) }));
    }
    return e;
  }

  /**
   * Language-modelling batches for layer importance: whole examples (prompt and answer), every
   * next token counted, from the training split in a seeded order. Counting every token rather
   * than the answer alone keeps the measure from resting on a handful of label positions.
   */
  calibrationBatches(count: number, batch: number, seqLen: number): TokenBatch[] {
    const order = new SeededRandom(stableHash32(`${this.settings.seed}:calibration`)).shuffle([...this.task.train.keys()]);
    const pad = this.tok.padId ?? this.tok.eosId ?? 0;
    return Array.from({ length: count }, (_, s) => {
      const rows = Array.from({ length: batch }, (_, b) => {
        const e = this.example(order[(s * batch + b) % order.length]);
        return [...e.prompt, ...e.completion].slice(0, seqLen + 1);
      });
      // As long as the longest row, not seqLen: padding after a row changes none of its losses
      // (causal attention, ignored targets) but costs a CPU forward pass per position.
      const T = Math.max(1, ...rows.map((r) => r.length - 1));
      const inputIds = new Int32Array(batch * T).fill(pad), targets = new Int32Array(batch * T).fill(-1);
      rows.forEach((toks, b) => {
        for (let t = 0; t + 1 < toks.length; t++) {
          inputIds[b * T + t] = toks[t];
          targets[b * T + t] = toks[t + 1];
        }
      });
      return { B: batch, T, inputIds, targets };
    });
  }

  /** steps × batch rows of one shard, padded to exactly seqLen tokens per row. */
  batches(shard: number, round: number, steps: number, batch: number, seqLen: number): AssignmentBatches {
    const pool = this.shards[shard % this.shards.length];
    if (pool.length === 0) throw new Error(`shard ${shard} is empty`);
    const rng = new SeededRandom(stableHash32(`${this.settings.seed}:${round}:${shard}`));
    const order = rng.shuffle([...pool]);
    const pad = this.tok.padId ?? this.tok.eosId ?? 0;
    const n = batch * seqLen;
    const inputIds = new Int32Array(steps * n), targets = new Int32Array(steps * n);
    for (let s = 0; s < steps; s++) {
      const rows = Array.from({ length: batch }, (_, b) => this.example(order[(s * batch + b) % order.length]));
      // completionBatch pads to its longest row; the GPU session has a fixed seqLen, so pad on to it.
      const tb = completionBatch(rows, seqLen + 1, pad);
      for (let b = 0; b < batch; b++) {
        const dst = s * n + b * seqLen;
        inputIds.fill(pad, dst, dst + seqLen);
        targets.fill(-1, dst, dst + seqLen);
        inputIds.set(tb.inputIds.subarray(b * tb.T, (b + 1) * tb.T), dst);
        targets.set(tb.targets.subarray(b * tb.T, (b + 1) * tb.T), dst);
      }
    }
    // The FedAvg weight: distinct examples this assignment trains on.
    return { inputIds, targets, numSamples: Math.min(steps * batch, order.length) };
  }
}
