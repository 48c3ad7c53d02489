// Test-page entry: every kernel family's harness, on one global for Playwright to call.
import * as matmulHarness from './matmulHarness';
import * as dequantMatmulHarness from './dequantMatmulHarness';
import * as elementwiseHarness from './elementwiseHarness';
import * as rmsNormHarness from './rmsNormHarness';
import * as ropeHarness from './ropeHarness';
import * as attentionHarness from './attentionHarness';
import * as crossEntropyHarness from './crossEntropyHarness';
import * as adamwHarness from './adamwHarness';
import * as sessionHarness from './sessionHarness';
import * as quantizedSessionHarness from './quantizedSessionHarness';

const harness = {
  ...matmulHarness, ...dequantMatmulHarness, ...elementwiseHarness, ...rmsNormHarness, ...ropeHarness, ...attentionHarness,
  ...crossEntropyHarness, ...adamwHarness, ...sessionHarness, ...quantizedSessionHarness,
};
(globalThis as unknown as { kernelHarness: typeof harness }).kernelHarness = harness;
export type KernelHarness = typeof harness;
export type { MatmulCase } from './matmulHarness';
export type { DequantGatherCase, DequantMatmulCase } from './dequantMatmulHarness';
export type { CaseResult } from './common';
export type { SessionCase } from './sessionHarness';
