// npm start: the federated coordinator with the default model and task. Serves the volunteer page
// and model files over HTTP, runs rounds over socket.io, keeps state in a SQLite file, and resumes
// the active run after a restart. The admin token guards run control. A run may fine-tune any
// model directory under --models-root (default: the parent of --model); --model is the default.
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Coordinator } from '../coordinator/coordinator';
import { REPO_ROOT } from '../browser/headlessChromium';
import { DEFAULT_MODEL_DIR } from './defaults';
import { parseCliArgs, runCli, UsageError } from './cliSupport';

const USAGE = 'npm start -- [--model <dir>] [--models-root <dir>] [--port N (or PORT)] [--host H] [--db <file>] [--runs-dir <dir>] [--admin-token T (or ADMIN_TOKEN)] [--run <settings JSON>] [--no-default-run]';
export const DEFAULT_PORT = 8080;

await runCli(USAGE, async () => {
  const a = parseCliArgs(USAGE, {
    model: { type: 'string', default: DEFAULT_MODEL_DIR }, 'models-root': { type: 'string' }, port: { type: 'string' }, host: { type: 'string', default: '127.0.0.1' },
    db: { type: 'string', default: 'runs/coordinator.db' }, 'runs-dir': { type: 'string', default: 'runs' },
    'admin-token': { type: 'string' }, run: { type: 'string' }, 'no-default-run': { type: 'boolean', default: false },
  });
  const portText = a.port ?? process.env.PORT;
  const port = portText === undefined ? DEFAULT_PORT : Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port / PORT must be 0..65535, got "${portText}"`);
  let defaultRun: unknown = a['no-default-run'] ? false : {};
  if (a.run !== undefined) {
    try {
      defaultRun = JSON.parse(a.run);
    } catch (e) {
      throw new UsageError(`--run must be JSON run settings: ${(e as Error).message}`);
    }
  }
  const generated = !(a['admin-token'] ?? process.env.ADMIN_TOKEN);
  const adminToken = a['admin-token'] ?? process.env.ADMIN_TOKEN ?? randomBytes(18).toString('base64url');
  await mkdir(dirname(a.db!), { recursive: true });
  const c = await Coordinator.start({
    modelDir: a.model!, modelsRoot: a['models-root'] ?? dirname(a.model!), dbPath: a.db!, runsDir: a['runs-dir']!, webRoot: join(REPO_ROOT, 'dist/web-client'), port, host: a.host,
    adminToken, defaultRun,
  });
  console.log(`[coordinator] volunteer page: ${c.url}/  (model ${a.model}, id ${c.model.id}, models under ${a['models-root'] ?? dirname(a.model!)}; default port ${DEFAULT_PORT}, set PORT to change)`);
  console.log(`[coordinator] admin token: ${generated ? adminToken : '(from --admin-token / ADMIN_TOKEN)'}`);
  // One machine-readable line for tools that start the coordinator (the swarm).
  console.log(JSON.stringify({ event: 'listening', url: c.url, port: c.port, modelId: c.model.id }));
  let closing = false;
  const shutdown = (sig: string) => {
    if (closing) return;
    closing = true;
    console.log(`[coordinator] ${sig}: shutting down (the active run resumes on the next start)`);
    void c.close().then(() => process.exit(0));
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
});
