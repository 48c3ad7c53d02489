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
/** `model(id)`: the model files under /models/<id>/ (the active run's model, or one its strategy derived). */
export function createHttpApp(opts: { model: (id: string) => ModelParts | undefined; webRoot: string; routes?: (app: Express) => void }): Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  app.get('/models/:id/:file', (req, res) => {
    const m = opts.model(req.params.id);
    if (!m) return void res.status(404).type('text').send(`unknown model ${req.params.id}`);
    const body = req.params.file === 'config.json' ? m.configJson : req.params.file === 'tokenizer.json' ? m.tokenizerJson : undefined;
    if (body === undefined) return void res.status(404).type('text').send(`no ${req.params.file} for model ${m.id}`);
    res.setHeader('Cache-Control', IMMUTABLE);
    res.type('application/json').send(body);
  });
  app.get('/models/:id/parts/:name', (req, res) => {
    const part = opts.model(req.params.id)?.part(req.params.name);
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
