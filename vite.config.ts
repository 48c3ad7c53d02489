import { defineConfig } from 'vite';

// Builds apps/web-client (volunteer page now; dashboard and training worker later).
export default defineConfig({
  root: 'apps/web-client',
  build: { outDir: '../../dist/web-client', emptyOutDir: true, target: 'es2022' },
  server: { host: '127.0.0.1', port: 5174, strictPort: true },
  preview: { host: '127.0.0.1', port: 5174, strictPort: true },
});
