/**
 * The hello's ClientCapabilities, from what the page probed (adapter identity, features) and what
 * the worker's own device reports (its limits are the ones training runs under).
 */
import { clientCapabilitiesSchema, type ClientCapabilities, type WorkerGpuInfo } from '@fedllm/core';
import type { WebGpuProbe } from '../webgpuProbe';
import type { BudgetSource } from './budgetChoice';

export interface CapabilityInputs {
  probe: Extract<WebGpuProbe, { available: true }>;
  worker: WorkerGpuInfo;
  budgetBytes: number;
  budgetSource: BudgetSource;
  dataSource: ClientCapabilities['dataSource'];
  label?: string;
}

/** Adapter strings and features are cut to the protocol's limits rather than refused by the coordinator. */
const cut = (s: string, n: number) => (s.length > n ? s.slice(0, n) : s);

/** Builds and validates the capabilities (a schema error here is a bug in the page, reported as such). */
export function buildCapabilities(i: CapabilityInputs): ClientCapabilities {
  const caps: ClientCapabilities = {
    adapter: {
      vendor: cut(i.worker.vendor || i.probe.adapter.vendor, 256),
      architecture: cut(i.worker.architecture || i.probe.adapter.architecture, 256),
      description: cut(i.worker.description || i.probe.adapter.description, 256),
      isFallbackAdapter: i.probe.adapter.isFallbackAdapter,
    },
    limits: { maxBufferSize: i.worker.maxBufferSize, maxStorageBufferBindingSize: i.worker.maxStorageBufferBindingSize },
    features: i.probe.features.filter((f) => f.length <= 64).slice(0, 64),
    budgetBytes: i.budgetBytes,
    budgetSource: i.budgetSource,
    dataSource: i.dataSource,
    ...(i.label ? { label: cut(i.label, 64) } : {}),
  };
  const r = clientCapabilitiesSchema.safeParse(caps);
  if (!r.success) throw new Error(`volunteer page built invalid capabilities: ${r.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; ')}`);
  return r.data;
}
