// Test-page entry: every kernel family's harness, on one global for Playwright to call.
import * as matmulHarness from './matmulHarness';

const harness = { ...matmulHarness };
(globalThis as unknown as { kernelHarness: typeof harness }).kernelHarness = harness;
export type KernelHarness = typeof harness;
export type { MatmulCase } from './matmulHarness';
export type { CaseResult } from './common';
