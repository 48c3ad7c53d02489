/**
 * Measured memory for the experiment: every distinct task shape the runs assigned (plan, rank,
 * weight storage) is built as the real WebGPU LoRA session in headless Chromium under the smallest
 * budget it was assigned to, and trained one step; the ledger's peak is compared with the budget
 * and with the strategies' prediction. A shape's buffers do not depend on the weights' values or on
 * which run assigned it, so one measurement stands for all its assignments.
 */
import { join } from 'node:path';
import { parsePlanDescription, type MemoryCheckCase, type MemoryCheckResult, type WeightFormat } from '@fedllm/core';
import { REPO_ROOT, withHeadlessPage } from '../browser/headlessChromium';
import { experimentModelConfig, type ExperimentConfig } from './experimentConfig';
import type { SimulationJobResult } from './simulationJob';

export interface MemoryCheckRow extends MemoryCheckResult {
  plan: string;
  rank: number;
  weightFormat: WeightFormat;
  /** Assignments of this shape over all runs (the unlimited upper bound's are exempt from budgets). */
  assignments: number;
  exempt: boolean;
}

type ShapeInfo = Pick<MemoryCheckRow, 'key' | 'plan' | 'rank' | 'weightFormat' | 'assignments' | 'exempt'>;

export function memoryCheckCases(config: ExperimentConfig, results: readonly SimulationJobResult[]): { cases: MemoryCheckCase[]; rows: ShapeInfo[] } {
  const modelConfig = experimentModelConfig(config);
  const shapes = new Map<string, { case: MemoryCheckCase; plan: string; rank: number; weightFormat: WeightFormat; assignments: number; exempt: boolean }>();
  for (const r of results) {
    for (const round of r.rounds) {
      for (const t of round.tasks) {
        if (t.excluded) continue;
        const exempt = r.strategy === 'unlimited';
        const key = `${t.plan}|r${t.rank}|${t.weightFormat}${exempt ? '|unlimited' : ''}`;
        let s = shapes.get(key);
        if (!s) {
          const rank = t.rank!;
          // Ranks below the run's keep the run's α/r scale (flexLoraStrategy.ts); α does not change memory.
          const lora = { ...config.lora, rank, alpha: (config.lora.alpha * rank) / config.lora.rank };
          s = {
            case: {
              key, config: modelConfig, plan: parsePlanDescription(t.plan!), lora, batch: config.batch, seqLen: config.seqLen, clipNorm: config.clipNorm,
              logitsChunkRows: config.logitsChunkRows, weightFormat: t.weightFormat as WeightFormat, budgetBytes: exempt ? 2 ** 40 : t.budgetBytes,
            },
            plan: t.plan!, rank, weightFormat: t.weightFormat as WeightFormat, assignments: 0, exempt,
          };
          shapes.set(key, s);
        }
        s.assignments++;
        if (!exempt) s.case.budgetBytes = Math.min(s.case.budgetBytes, t.budgetBytes);
      }
    }
  }
  const list = [...shapes.values()];
  return { cases: list.map((s) => s.case), rows: list.map((s) => ({ key: s.case.key, plan: s.plan, rank: s.rank, weightFormat: s.weightFormat, assignments: s.assignments, exempt: s.exempt })) };
}

export async function measureMemory(config: ExperimentConfig, results: readonly SimulationJobResult[], log: (m: string) => void): Promise<MemoryCheckRow[]> {
  const { cases, rows } = memoryCheckCases(config, results);
  log(`memory check: ${cases.length} distinct task shape(s) in headless Chromium`);
  const measured = await withHeadlessPage({
    path: '/test-pages/memory.html',
    vite: { cacheDir: join(REPO_ROOT, 'node_modules/.vite-memory'), optimizeDeps: { entries: ['test-pages/memory.html'] } },
    timeout: { ms: 30 * 60_000, message: 'the memory check did not finish within 30 min' },
  }, async (page) => {
    await page.waitForFunction(() => typeof (globalThis as { measureSessionPeaks?: unknown }).measureSessionPeaks === 'function', undefined, { timeout: 180_000 });
    return page.evaluate((c) => (globalThis as unknown as { measureSessionPeaks: (x: unknown) => Promise<MemoryCheckResult[]> }).measureSessionPeaks(c), cases);
  });
  return measured.map((m) => ({ ...m, ...rows.find((r) => r.key === m.key)! }));
}

/** The report's section on measured memory. */
export function memoryCheckMarkdown(rows: readonly MemoryCheckRow[]): string {
  const mib = (b: number | undefined) => (b === undefined ? '–' : (b / 2 ** 20).toFixed(3));
  const budgeted = rows.filter((r) => !r.exempt);
  const assignments = budgeted.reduce((a, r) => a + r.assignments, 0);
  const over = budgeted.filter((r) => r.peakBytes === undefined || r.peakBytes > r.budgetBytes);
  const errs = rows.map((r) => (r.peakBytes ? Math.abs(r.estimateBytes - r.peakBytes) / r.peakBytes : NaN)).filter(Number.isFinite);
  const out = [
    '## Measured memory (WebGPU ledger, headless Chromium)', '',
    `Every distinct task shape of the runs above, built as the real \`LoraTrainingSession\` under the smallest budget it was assigned and trained one step (\`apps/server/src/experiment/memoryCheck.ts\`). ${rows.length} shapes cover ${rows.reduce((a, r) => a + r.assignments, 0)} assignments; the ${assignments} with a budget (all but the unlimited upper bound's):`,
    '',
    `- measured peak ≤ budget: **${over.length === 0 ? `all ${assignments}` : `${assignments - over.reduce((a, r) => a + r.assignments, 0)} of ${assignments}`}**${over.length ? ` (failing shapes: ${over.map((r) => `${r.plan} ${r.weightFormat}${r.error ? `: ${r.error}` : ''}`).join('; ')})` : ''};`,
    `- estimate vs measured: largest relative difference **${errs.length ? (100 * Math.max(...errs)).toFixed(2) : '–'}%** (target: within 10%).`,
    '', '| plan | rank | weights | assignments | budget MiB | estimate MiB | measured MiB | measured ≤ budget |', '|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.plan}${r.exempt ? ' (unlimited)' : ''} | ${r.rank} | ${r.weightFormat} | ${r.assignments} | ${r.exempt ? '–' : mib(r.budgetBytes)} | ${mib(r.estimateBytes)} | ${mib(r.peakBytes)}${r.error ? ` (${r.error})` : ''} | ${r.exempt ? 'exempt' : r.peakBytes !== undefined && r.peakBytes <= r.budgetBytes ? 'yes' : '**no**'} |`),
  ];
  return out.join('\n');
}
