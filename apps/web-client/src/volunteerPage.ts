import { probeWebGpu, type WebGpuProbe } from './webgpuProbe';

const MiB = 1024 * 1024;

function render(p: WebGpuProbe): void {
  const section = document.getElementById('gpu-status')!;
  const summary = document.getElementById('gpu-summary')!;
  const details = document.getElementById('gpu-details')!;
  if (!p.available) {
    section.dataset.state = 'unavailable';
    summary.textContent = p.reason;
    return;
  }
  section.dataset.state = p.selfTestPassed ? 'available' : 'unavailable';
  summary.textContent = p.selfTestPassed
    ? 'WebGPU works in this tab: the test kernel ran and every result was correct.'
    : 'WebGPU is present but the test kernel returned wrong results; this GPU cannot train reliably.';
  const rows: [string, string][] = [
    ['Adapter', [p.adapter.vendor, p.adapter.architecture, p.adapter.device, p.adapter.description].filter(Boolean).join(' · ') || 'unknown'],
    ['Software adapter', p.adapter.isFallbackAdapter ? 'yes' : 'no'],
    ['Max buffer', `${(p.limits.maxBufferSize / MiB).toFixed(0)} MiB`],
    ['Max storage binding', `${(p.limits.maxStorageBufferBindingSize / MiB).toFixed(0)} MiB`],
    ['Workgroup storage', `${p.limits.maxComputeWorkgroupStorageSize} bytes`],
    ['Features', p.features.join(', ') || 'none'],
  ];
  details.replaceChildren(...rows.flatMap(([k, v]) => {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = v;
    dd.dataset.key = k;
    return [dt, dd];
  }));
}

probeWebGpu().then(render, (e: unknown) => render({ available: false, reason: `WebGPU check failed: ${(e as Error).message}` }));
