import { mapWeightTensors, type LlamaWeights, type ParamTensor } from '@fedllm/core';

/**
 * Copies weights into SharedArrayBuffer-backed arrays. Posting them to a worker then shares the
 * memory instead of copying it, so every optimizer step is visible to all workers at once.
 * Structured clone keeps a tied head identical to the embedding on the other side too.
 */
export function shareWeights(w: LlamaWeights<ParamTensor>): LlamaWeights<ParamTensor> {
  const share = (t: ParamTensor): ParamTensor => {
    const data = new Float32Array(new SharedArrayBuffer(t.data.length * 4));
    data.set(t.data);
    return { shape: [...t.shape], data };
  };
  return mapWeightTensors(w, share);
}
