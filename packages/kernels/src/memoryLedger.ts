/**
 * Every GPU buffer of a training session is created and destroyed here, so the session knows its
 * live bytes and high-water mark exactly (no browser API reports GPU memory use). A budget is
 * enforced before the allocation reaches the GPU, and once a session is sealed (built), any
 * further allocation is a bug: the step loop must reuse what was allocated up front.
 */
export class GpuBudgetExceededError extends Error {
  override name = 'GpuBudgetExceededError';
  constructor(readonly label: string, readonly requestedBytes: number, readonly liveBytes: number, readonly budgetBytes: number) {
    super(
      `GPU memory budget exceeded allocating "${label}": ${requestedBytes} bytes requested with ${liveBytes} live, ` +
        `budget ${budgetBytes} bytes (${(((liveBytes + requestedBytes) / budgetBytes) * 100).toFixed(1)}% of budget)`,
    );
  }
}

/** The GPU itself could not back the allocations (the budget allowed them, the device did not). */
export class GpuOutOfMemoryError extends Error {
  override name = 'GpuOutOfMemoryError';
}

export class LedgerSealedError extends Error {
  override name = 'LedgerSealedError';
}

export interface LedgerEntry {
  label: string;
  bytes: number;
}

export class GpuMemoryLedger {
  private readonly live = new Map<GPUBuffer, LedgerEntry>();
  private liveTotal = 0;
  private peak = 0;
  private sealed = false;

  constructor(private readonly device: GPUDevice, readonly budgetBytes = Number.POSITIVE_INFINITY) {}

  get liveBytes(): number {
    return this.liveTotal;
  }

  /** High-water mark of live bytes since creation (or the last resetPeak). */
  get peakBytes(): number {
    return this.peak;
  }

  resetPeak(): void {
    this.peak = this.liveTotal;
  }

  /** After seal(), createBuffer throws: the session is built and steps must not allocate. */
  seal(): void {
    this.sealed = true;
  }

  unseal(): void {
    this.sealed = false;
  }

  /** Sizes are rounded up to 4 bytes, as WebGPU requires for storage and copies. */
  createBuffer(label: string, bytes: number, usage: GPUBufferUsageFlags): GPUBuffer {
    if (this.sealed) throw new LedgerSealedError(`allocation of "${label}" (${bytes} bytes) after the session was sealed`);
    if (!Number.isInteger(bytes) || bytes < 0) throw new RangeError(`buffer "${label}": size must be a non-negative integer, got ${bytes}`);
    const size = Math.max(4, Math.ceil(bytes / 4) * 4);
    if (this.liveTotal + size > this.budgetBytes) throw new GpuBudgetExceededError(label, size, this.liveTotal, this.budgetBytes);
    const buffer = this.device.createBuffer({ label, size, usage });
    this.live.set(buffer, { label, bytes: size });
    this.liveTotal += size;
    this.peak = Math.max(this.peak, this.liveTotal);
    return buffer;
  }

  destroy(buffer: GPUBuffer): void {
    const e = this.live.get(buffer);
    if (!e) throw new Error(`destroy: buffer "${buffer.label}" was not created by this ledger or is already destroyed`);
    buffer.destroy();
    this.live.delete(buffer);
    this.liveTotal -= e.bytes;
  }

  destroyAll(): void {
    for (const b of [...this.live.keys()]) this.destroy(b);
  }

  /** Live allocations grouped by label prefix (up to the first '.'), largest first. */
  breakdown(): { group: string; bytes: number }[] {
    const m = new Map<string, number>();
    for (const e of this.live.values()) {
      const g = e.label.split('.')[0];
      m.set(g, (m.get(g) ?? 0) + e.bytes);
    }
    return [...m].map(([group, bytes]) => ({ group, bytes })).sort((a, b) => b.bytes - a.bytes);
  }
}
