/**
 * The coordinator as a child process (what the swarm and the end-to-end test drive), so it can be
 * killed with SIGKILL and started again on the same port, database and runs directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { REPO_ROOT } from '../browser/headlessChromium';

export interface CoordinatorProcessOptions {
  port: number;
  dbPath: string;
  runsDir: string;
  adminToken: string;
  modelDir?: string;
  /** Receives every line the coordinator prints. */
  onLine?: (line: string) => void;
}

/** A free TCP port on 127.0.0.1 (asked of the OS, then released for the child to take). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export class CoordinatorProcess {
  private child: ChildProcess | undefined;
  url = '';

  constructor(private readonly o: CoordinatorProcessOptions) {}

  /** Starts the coordinator and resolves once it listens. */
  async start(): Promise<void> {
    const args = [
      '--import', 'tsx', join(REPO_ROOT, 'apps/server/src/cli/serve.ts'), '--port', String(this.o.port), '--db', this.o.dbPath,
      '--runs-dir', this.o.runsDir, '--no-default-run', ...(this.o.modelDir ? ['--model', this.o.modelDir] : []),
    ];
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, env: { ...process.env, ADMIN_TOKEN: this.o.adminToken }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      let buf = '';
      const onData = (chunk: Buffer) => {
        buf += chunk.toString('utf8');
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          this.o.onLine?.(line);
          if (line.startsWith('{"event":"listening"')) {
            this.url = (JSON.parse(line) as { url: string }).url;
            resolve();
          }
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', (c: Buffer) => c.toString('utf8').split('\n').filter(Boolean).forEach((l) => this.o.onLine?.(`[stderr] ${l}`)));
      child.once('exit', (code, sig) => reject(new Error(`coordinator exited before listening (code ${code}, signal ${sig})`)));
    });
  }

  /** SIGKILL: no shutdown handler runs, as in a crash or an OOM kill. */
  async kill(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}
