export * from './modelDir';
export * from './tokenizerFile';
export * from './datasets';
export * from './adapterDir';
export * from './ggufFile';
