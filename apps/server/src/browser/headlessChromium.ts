import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type ConsoleMessage, type Page } from '@playwright/test';
import { createServer, type InlineConfig, type Plugin, type ViteDevServer } from 'vite';
import { serializeSafetensors, weightsToHfTensors } from '@fedllm/core';
import { GGUF_WEIGHTS, loadModelDir } from '@fedllm/core/node';

/** The repository root, with a trailing slash. */
export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

/** Flags Debian's Chromium needs for WebGPU (SwiftShader) headless, without network chatter. */
export const CHROMIUM_ARGS = [
  '--enable-unsafe-webgpu', '--no-sandbox', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/**
 * model.safetensors (float32) of a directory that holds its weights as model.gguf, made once per
 * server: the browser tools read safetensors, and this keeps them usable with imported models.
 */
function ggufAsSafetensors(root: string): () => Promise<Uint8Array> {
  let made: Promise<Uint8Array> | undefined;
  return () => (made ??= loadModelDir(root).then(({ config, weights }) => serializeSafetensors(weightsToHfTensors(config, weights))));
}

/**
 * Serves the files directly inside one model directory at /model/<file>: a single plain name
 * (no subdirectories, no `..`, no absolute paths); anything else is a 404.
 */
function modelFiles(dir: string): Plugin {
  const root = resolve(dir);
  const fromGguf = ggufAsSafetensors(root);
  return {
    name: 'model-files',
    configureServer(server) {
      server.middlewares.use('/model', (req, res, next) => {
        const notFound = (name: string) => {
          res.statusCode = 404;
          res.end(`no ${name} in ${root}`);
        };
        let name: string;
        try {
          name = decodeURIComponent((req.url ?? '/').split('?')[0]).replace(/^\/+/, '');
        } catch {
          return notFound('such file');
        }
        if (!/^\w[\w.-]*$/.test(name)) return notFound(JSON.stringify(name));
        const path = join(root, name);
        const sendFile = () =>
          stat(path).then(
            (st) => {
              if (!st.isFile()) return notFound(name);
              res.setHeader('Content-Type', name.endsWith('.json') ? 'application/json' : 'application/octet-stream');
              res.setHeader('Content-Length', String(st.size));
              res.setHeader('Cache-Control', 'no-store');
              createReadStream(path).on('error', next).pipe(res);
            },
            () => notFound(name),
          );
        if (name !== 'model.safetensors') return void sendFile();
        void (async () => {
          const own = await stat(path).catch(() => undefined);
          const gguf = await stat(join(root, GGUF_WEIGHTS)).catch(() => undefined);
          if (own || !gguf) return sendFile();
          const bytes = await fromGguf();
          res.setHeader('Content-Type', 'application/octet-stream');
          res.setHeader('Content-Length', String(bytes.length));
          res.end(bytes);
        })().catch(next);
      });
    },
  };
}

export interface HeadlessPageOptions {
  /** Page to open, relative to apps/web-client (e.g. '/tools/logits.html'). */
  path: string;
  /** Served at /model/<file> when given. */
  modelDir?: string;
  executablePath?: string;
  /** Extra Vite settings, e.g. an own `cacheDir` or `optimizeDeps` (default logLevel 'error'). */
  vite?: Pick<InlineConfig, 'cacheDir' | 'optimizeDeps' | 'logLevel'>;
  /** Called once the Vite server listens, before Chromium is launched. */
  onListening?: (baseUrl: string) => void;
  /** Page console messages (none are printed otherwise). */
  onConsole?: (msg: ConsoleMessage) => void;
  /** Uncaught page errors (default: printed to stderr as `[page] <message>`). */
  onPageError?: (e: Error) => void;
  /** fn fails with this error when it has not finished within `ms`. */
  timeout?: { ms: number; message: string };
}

/**
 * Runs fn against a page of the web client served by an in-process Vite server, in Debian's
 * headless Chromium with WebGPU. Everything is closed afterwards, whatever fn does, and on
 * SIGINT/SIGTERM (then the process exits with 130).
 */
export async function withHeadlessPage<T>(o: HeadlessPageOptions, fn: (page: Page) => Promise<T>): Promise<T> {
  let server: ViteDevServer | undefined;
  let browser: Browser | undefined;
  const cleanup = async () => {
    await browser?.close().catch(() => undefined);
    browser = undefined;
    await server?.close().catch(() => undefined);
    server = undefined;
  };
  const onSignal = () => { void cleanup().then(() => process.exit(130)); };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let timer: NodeJS.Timeout | undefined;
  try {
    server = await createServer({
      configFile: join(REPO_ROOT, 'vite.config.ts'),
      root: join(REPO_ROOT, 'apps/web-client'),
      logLevel: 'error',
      clearScreen: false,
      ...o.vite,
      server: { host: '127.0.0.1', port: 0, strictPort: false, hmr: false, watch: null },
      plugins: o.modelDir ? [modelFiles(o.modelDir)] : [],
    });
    await server.listen();
    const address = server.httpServer?.address();
    if (!address || typeof address === 'string') throw new Error('vite server has no TCP address');
    const base = `http://127.0.0.1:${address.port}`;
    o.onListening?.(base);
    browser = await chromium.launch({ executablePath: o.executablePath ?? process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: CHROMIUM_ARGS });
    const page = await browser.newPage();
    if (o.onConsole) page.on('console', o.onConsole);
    page.on('pageerror', o.onPageError ?? ((e) => console.error(`[page] ${e.message}`)));
    await page.goto(`${base}${o.path}`);
    if (!o.timeout) return await fn(page);
    const { ms, message } = o.timeout;
    const timeout = new Promise<never>((_, rej) => { timer = setTimeout(() => rej(new Error(message)), ms); });
    return await Promise.race([fn(page), timeout]);
  } finally {
    if (timer) clearTimeout(timer);
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
