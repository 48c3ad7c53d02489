/** The WebGPU section: whether this tab can train, and what adapter it would train on. */
import type { WebGpuProbe } from '../webgpuProbe';
import { byId, fillDetails } from './dom';
import { MiB } from './format';

/** One line naming the adapter (vendor · architecture · device · description). */
export function adapterName(p: Extract<WebGpuProbe, { available: true }>): string {
  const a = p.adapter;
  return [a.vendor, a.architecture, a.device, a.description].filter(Boolean).join(' · ') || 'unknown';
}

/**
 * Features that GPU training code commonly relies on (half precision, subgroup operations, GPU
 * timing), named on the page; packages/kernels needs none of them today, so they are informational.
 */
const TRAINING_FEATURES = ['shader-f16', 'subgroups', 'timestamp-query'];

/** The feature count and whether each training-relevant one is there. */
export function featureLine(features: readonly string[]): string {
  return `${features.length} (${TRAINING_FEATURES.map((f) => `${f}: ${features.includes(f) ? 'yes' : 'no'}`).join(', ')})`;
}

/** Shows the probe's outcome; a missing WebGPU gets the reason in plain words. */
export function renderGpuStatus(p: WebGpuProbe): void {
  const section = byId('gpu-status');
  const summary = byId('gpu-summary');
  if (!p.available) {
    section.dataset.state = 'unavailable';
    summary.textContent = p.reason;
    return;
  }
  section.dataset.state = p.selfTestPassed ? 'available' : 'unavailable';
  summary.textContent = p.selfTestPassed
    ? 'WebGPU works in this tab: the test kernel ran and every result was correct.'
    : 'WebGPU is present but the test kernel returned wrong results; this GPU cannot train reliably.';
  fillDetails(byId('gpu-details'), [
    ['Adapter', adapterName(p)],
    ['Software adapter', p.adapter.isFallbackAdapter ? 'yes' : 'no'],
    ['Max buffer', `${(p.limits.maxBufferSize / MiB).toFixed(0)} MiB`],
    ['Max storage binding', `${(p.limits.maxStorageBufferBindingSize / MiB).toFixed(0)} MiB`],
    ['Workgroup storage', `${p.limits.maxComputeWorkgroupStorageSize} bytes`],
    ['Features', featureLine(p.features)],
  ]);
  // The full list (often twenty-odd names) stays available on hover, without crowding the section.
  const features = byId('gpu-details').querySelector<HTMLElement>('dd[data-key="Features"]');
  if (features) features.title = p.features.join(', ') || 'none';
}
