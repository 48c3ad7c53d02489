import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Page } from '@playwright/test';
import { createServer, type Plugin } from 'vite';

const repoRoot = fileURLToPath(new URL('../../../..', import.meta.url));

/** Flags Debian's Chromium needs for WebGPU (SwiftShader) headless, without network chatter. */
export const CHROMIUM_ARGS = [
  '--enable-unsafe-webgpu', '--no-sandbox', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** Serves the files of one model directory at /model/<file> (flat: no subdirectories). */
function modelFiles(dir: string): Plugin {
  const root = resolve(dir);
  return {
    name: 'model-files',
    configureServer(server) {
      server.middlewares.use('/model', (req, res, next) => {
        const name = basename(decodeURIComponent((req.url ?? '/').split('?')[0]));
        const path = join(root, name);
        stat(path).then(
          (s) => {
            if (!s.isFile()) return next();
            res.setHeader('Content-Length', s.size);
            createReadStream(path).pipe(res);
          },
          () => {
            res.statusCode = 404;
            res.end(`no ${name} in ${root}`);
          },
        );
      });
    },
  };
}

/**
 * Runs fn against a page of the web client served by an in-process Vite server, in Debian's
 * headless Chromium with WebGPU. Everything is closed afterwards, whatever fn does.
 */
export async function withHeadlessPage<T>(
  o: { path: string; modelDir?: string; executablePath?: string },
  fn: (page: Page) => Promise<T>,
): Promise<T> {
  const server = await createServer({
    configFile: join(repoRoot, 'vite.config.ts'),
    root: join(repoRoot, 'apps/web-client'),
    server: { host: '127.0.0.1', port: 0, strictPort: false, hmr: false },
    logLevel: 'error',
    plugins: o.modelDir ? [modelFiles(o.modelDir)] : [],
  });
  await server.listen();
  const browser = await chromium.launch({ executablePath: o.executablePath ?? process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const address = server.httpServer?.address();
    if (!address || typeof address === 'string') throw new Error('vite server has no TCP address');
    const page = await browser.newPage();
    page.on('pageerror', (e) => console.error(`[page] ${e.message}`));
    await page.goto(`http://127.0.0.1:${address.port}${o.path}`);
    return await fn(page);
  } finally {
    await browser.close();
    await server.close();
  }
}
