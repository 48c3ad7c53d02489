/** The model the project trains itself and commits (see `npm run pretrain`). */
export const DEFAULT_MODEL_DIR = 'models/tiny-brown-llama';
