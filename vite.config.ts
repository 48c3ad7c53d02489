import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const page = (name: string) => fileURLToPath(new URL(`apps/web-client/${name}`, import.meta.url));

// Builds apps/web-client: the volunteer page (with its training worker) and the admin dashboard
// (with its text-generation worker).
export default defineConfig({
  root: 'apps/web-client',
  build: {
    outDir: '../../dist/web-client', emptyOutDir: true, target: 'es2022',
    rollupOptions: { input: { index: page('index.html'), dashboard: page('dashboard.html') } },
  },
  server: { host: '127.0.0.1', port: 5174, strictPort: true },
  preview: { host: '127.0.0.1', port: 5174, strictPort: true },
});
