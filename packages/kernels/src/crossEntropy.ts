// Placeholder: this kernel family is being written; see matmul.ts for the pattern.
export {};
