/**
 * Estimates how much GPU memory this tab may use for training. WebGPU exposes no "free memory"
 * figure, so the estimate comes from what can actually be allocated: buffers of one chunk size are
 * created (each inside an out-of-memory error scope, each written to so that it is backed by real
 * memory) until the cap is reached or an allocation fails; then all are destroyed. The cap bounds
 * the probe on large GPUs, so a tab never grabs more than it could sensibly train with.
 *
 * The budget is SAFETY_FACTOR of what was allocated: the rest is headroom for what the probe does
 * not see (other tabs and apps on the same GPU, the driver's own allocations, fragmentation, the
 * per-dispatch uniform buffers the ledger does not count exactly).
 */

const MiB = 1024 * 1024;

/** Default bound of the probe: 4 GiB is more than any plan of the models this project trains needs. */
export const DEFAULT_PROBE_CAP_BYTES = 4096 * MiB;
/**
 * Bound for software adapters (SwiftShader and the like): their "GPU memory" is the machine's RAM,
 * every probed byte is really written there (4 GiB took 11.6 s and 4.1 GiB of RAM in headless
 * Chromium on a 2-core machine, 512 MiB well under a second), and the models they can train at a
 * useful speed are small.
 */
export const SOFTWARE_ADAPTER_PROBE_CAP_BYTES = 512 * MiB;
/** Buffers of 64 MiB: below every adapter's maxBufferSize minimum (256 MiB), coarse enough to be quick. */
export const DEFAULT_PROBE_CHUNK_BYTES = 64 * MiB;
/** Fraction of the allocated bytes offered as the budget (see the file comment for why not all). */
export const SAFETY_FACTOR = 0.6;
/** A probe slower than this stops where it is: software adapters allocate slowly. */
export const DEFAULT_PROBE_TIME_LIMIT_MS = 20_000;

/** Why the probe stopped allocating. */
export type ProbeStop = 'cap' | 'out-of-memory' | 'allocation-error' | 'device-lost' | 'time-limit';

export interface BudgetProbeOptions {
  /** Most bytes the probe allocates in all (default {@link DEFAULT_PROBE_CAP_BYTES}). */
  capBytes?: number;
  /** Size of each probe buffer (default {@link DEFAULT_PROBE_CHUNK_BYTES}, lowered to the adapter's maxBufferSize). */
  chunkBytes?: number;
  /** Stop after this long even below the cap (default {@link DEFAULT_PROBE_TIME_LIMIT_MS}). */
  timeLimitMs?: number;
  /** Adapter to probe (default: a new high-performance adapter). */
  adapter?: GPUAdapter;
}

/** What was probed, and the budget that follows from it. */
export interface BudgetProbeResult {
  /** GPU bytes this tab offers to training: floor(safetyFactor × allocatedBytes). */
  budgetBytes: number;
  /** Bytes that were allocated (and written to) before the probe stopped. */
  allocatedBytes: number;
  chunks: number;
  chunkBytes: number;
  capBytes: number;
  safetyFactor: number;
  stoppedBy: ProbeStop;
  /** The error that stopped the probe, when one did. */
  detail?: string;
  /** The adapter limits the probe respected. */
  limits: { maxBufferSize: number; maxStorageBufferBindingSize: number };
  ms: number;
}

/** Refused probe settings (not a GPU problem): names the valid range. */
export class BudgetProbeOptionsError extends RangeError {
  override name = 'BudgetProbeOptionsError';
}

function checkPositive(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v <= 0) throw new BudgetProbeOptionsError(`budget probe: ${name} must be a positive whole number of bytes, got ${v}`);
  return v;
}

/**
 * Runs the bounded allocation probe on its own device (destroyed afterwards) and returns the budget.
 * @throws Error when WebGPU or an adapter is missing; BudgetProbeOptionsError for bad options.
 */
export async function probeGpuBudget(o: BudgetProbeOptions = {}): Promise<BudgetProbeResult> {
  const capBytes = checkPositive('capBytes', o.capBytes ?? DEFAULT_PROBE_CAP_BYTES);
  const wantedChunk = checkPositive('chunkBytes', o.chunkBytes ?? DEFAULT_PROBE_CHUNK_BYTES);
  const timeLimitMs = o.timeLimitMs ?? DEFAULT_PROBE_TIME_LIMIT_MS;
  const adapter = o.adapter ?? (await navigator.gpu?.requestAdapter({ powerPreference: 'high-performance' }));
  if (!adapter) throw new Error('budget probe: no WebGPU adapter (navigator.gpu is missing or found no GPU)');
  const limits = { maxBufferSize: adapter.limits.maxBufferSize, maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize };
  // Whole 4-byte words (writeBuffer needs them), no larger than one buffer may be, no larger than the cap.
  const chunkBytes = Math.floor(Math.min(wantedChunk, limits.maxBufferSize, capBytes) / 4) * 4;
  const device = await adapter.requestDevice({ requiredLimits: { maxBufferSize: limits.maxBufferSize } });
  let lost: string | undefined;
  void device.lost.then((info) => { lost = info.message || info.reason; });
  const buffers: GPUBuffer[] = [];
  const marker = new Uint32Array(64).fill(0x5a5a5a5a);
  const t0 = performance.now();
  let stoppedBy: ProbeStop = 'cap';
  let detail: string | undefined;
  try {
    // Never exceed the cap: a chunk is only allocated when it fits entirely below it.
    while ((buffers.length + 1) * chunkBytes <= capBytes) {
      if (performance.now() - t0 > timeLimitMs) { stoppedBy = 'time-limit'; break; }
      device.pushErrorScope('validation');
      device.pushErrorScope('out-of-memory');
      const buf = device.createBuffer({ size: chunkBytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
      // Written at both ends, so that the memory is committed and not merely reserved.
      device.queue.writeBuffer(buf, 0, marker);
      device.queue.writeBuffer(buf, chunkBytes - marker.byteLength, marker);
      const oom = await device.popErrorScope();
      const invalid = await device.popErrorScope();
      if (lost !== undefined) { buf.destroy(); stoppedBy = 'device-lost'; detail = lost; break; }
      if (oom || invalid) {
        buf.destroy();
        stoppedBy = oom ? 'out-of-memory' : 'allocation-error';
        detail = (oom ?? invalid)!.message;
        break;
      }
      buffers.push(buf);
    }
    // The writes must have run for the memory to count; an error surfacing here also ends the probe.
    await Promise.race([device.queue.onSubmittedWorkDone(), device.lost]);
    if (lost !== undefined && stoppedBy !== 'device-lost') { stoppedBy = 'device-lost'; detail = lost; }
  } finally {
    for (const b of buffers) b.destroy();
    device.destroy();
  }
  // After a lost device the last buffers may not have been real: count none of them.
  const allocatedBytes = stoppedBy === 'device-lost' ? 0 : buffers.length * chunkBytes;
  return {
    budgetBytes: Math.floor(SAFETY_FACTOR * allocatedBytes), allocatedBytes, chunks: buffers.length, chunkBytes, capBytes,
    safetyFactor: SAFETY_FACTOR, stoppedBy, ...(detail !== undefined ? { detail } : {}), limits, ms: performance.now() - t0,
  };
}
