// Environment-neutral entry of @fedllm/core (browser, worker and Node). Node-only helpers
// (files, datasets from node_modules) are in '@fedllm/core/node'.
export * from './model/tensor';
export * from './model/modelConfig';
export * from './model/llamaWeights';
export * from './model/halfFloat';
export * from './model/safetensors';
export * from './model/hfConfig';
export * from './model/hfWeights';

export * from './tokenizer/bpeTrainer';
export * from './tokenizer/textTokenizer';

export * from './data/seededRandom';
export * from './data/task';
export * from './data/brownText';
export * from './data/partition';
export * from './data/bigramModel';
export * from './data/lmWindows';

export * from './engine/floatArray';
export * from './engine/paramTensor';
export * from './engine/linear';
export * from './engine/rmsNorm';
export * from './engine/rope';
export * from './engine/attention';
export * from './engine/swiglu';
export * from './engine/crossEntropy';
export * from './engine/submodelPlan';
export * from './engine/lora';
export * from './engine/projection';
export * from './engine/decoderLayer';
export * from './engine/llamaModel';
export * from './engine/gradBuffers';
export * from './engine/adamw';
export * from './engine/lrSchedule';
export * from './engine/initWeights';
export * from './engine/precision';
export * from './engine/randomSource';
export * from './model/peftAdapter';
export * from './model/mergeLora';

export * from './training/classificationBatch';
export * from './evaluation/classificationAccuracy';
export * from './evaluation/lmPerplexity';
export * from './evaluation/generateText';
export * from './training/loraTrainer';
export * from './training/localTrainingFile';
export * from './training/localTextBatches';
export * from './memory/loraSessionLayout';
export * from './protocol/trainingWorkerApi';
export * from './protocol/benchReport';
export * from './protocol/federatedProtocol';
export * from './protocol/runSettings';
export * from './protocol/adminHistory';
export * from './protocol/adminModels';
export * from './storage/runStoreRows';
export * from './federated/aggregateLayerwise';
export * from './federated/loraProductMean';
export * from './federated/linearCka';
export * from './federated/layerImportance';
export * from './federated/submodelPlanner';
