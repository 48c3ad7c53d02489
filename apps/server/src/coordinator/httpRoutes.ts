/**
 * HTTP side of the coordinator: the built web client (volunteer page, worker) and the model files.
 * Model files live under content-addressed URLs and are served as immutable, so browsers and
 * proxies cache them; everything else is revalidated.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import express, { type Express } from 'express';
import type { ModelParts } from './modelParts';

const IMMUTABLE = 'public, max-age=31536000, immutable';

/** `routes`: more routes (the admin downloads), mounted before the static web client. */
export function createHttpApp(opts: { model: () => ModelParts; webRoot: string; routes?: (app: Express) => void }): Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  app.get('/models/:id/:file', (req, res) => {
    const m = opts.model();
    if (req.params.id !== m.id) return void res.status(404).type('text').send(`unknown model ${req.params.id}; the coordinator serves ${m.id}`);
    const body = req.params.file === 'config.json' ? m.configJson : req.params.file === 'tokenizer.json' ? m.tokenizerJson : undefined;
    if (body === undefined) return void res.status(404).type('text').send(`no ${req.params.file} for model ${m.id}`);
    res.setHeader('Cache-Control', IMMUTABLE);
    res.type('application/json').send(body);
  });
  app.get('/models/:id/parts/:name', (req, res) => {
    const m = opts.model();
    const part = req.params.id === m.id ? m.part(req.params.name) : undefined;
    if (!part) return void res.status(404).type('text').send(`no part ${req.params.name} of model ${req.params.id}`);
    res.setHeader('Cache-Control', IMMUTABLE);
    res.type('application/octet-stream').send(Buffer.from(part.buffer, part.byteOffset, part.byteLength));
  });
  opts.routes?.(app);
  if (existsSync(join(opts.webRoot, 'index.html'))) {
    app.use(express.static(opts.webRoot, { index: 'index.html', maxAge: 0 }));
  } else {
    app.get('/', (_req, res) => {
      res.status(503).type('text').send(`The web client is not built (${opts.webRoot} has no index.html): run "npm run build:web".`);
    });
  }
  return app;
}
