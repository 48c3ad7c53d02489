/**
 * Admin downloads over HTTP, behind the admin token (`Authorization: Bearer <token>`, compared in
 * constant time like the admin socket): for any committed round of any run in the store,
 * - the global adapter in the PEFT layout: .../adapter/adapter_model.safetensors and adapter_config.json;
 * - the merged model (base weights with W + (alpha/r)·B·A folded in, float32), a Hugging Face
 *   directory: .../merged/model.safetensors, config.json, tokenizer.json.
 * Paths come from the store's round row, never from the URL, and the adapter's sha256 must be the
 * one the store recorded when the round committed.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Express, Request, Response } from 'express';
import { mergeLoraIntoWeights, serializeSafetensors, weightsToHfTensors } from '@fedllm/core';
import type { RunStore } from '../storage/runStore';
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, loadRoundCheckpoint, sha256Hex } from '../storage/roundCheckpoints';
import { tokenMatches } from './adminEdge';
import { ModelChangedError, type LoadedModel } from './modelCatalog';

export interface AdminHttpDeps {
  token: string;
  store: RunStore;
  /**
   * The base model a run fine-tuned, from the run's own directory (cached per directory); throws
   * ModelChangedError when that directory now holds another model.
   */
  baseModel: (run: { id: string; modelDir: string; modelId: string }) => Promise<LoadedModel>;
  log: (m: string) => void;
}

export const ADMIN_HTTP_PREFIX = '/admin/runs';

/** The token of an `Authorization: Bearer <token>` header, if any. */
function bearer(req: Request): string | undefined {
  const h = req.get('authorization');
  const m = h ? /^Bearer\s+(\S+)\s*$/i.exec(h) : null;
  return m ? m[1] : undefined;
}

function fail(res: Response, status: number, message: string): void {
  res.status(status).setHeader('Cache-Control', 'no-store');
  res.type('text').send(message);
}

export function attachAdminHttpRoutes(app: Express, d: AdminHttpDeps): void {
  let merged: { key: string; bytes: Promise<Uint8Array> } | undefined;

  /** The committed round the URL names, after the token check; undefined once an error was sent. */
  const committedRound = (req: Request, res: Response) => {
    const given = bearer(req);
    if (given === undefined) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="fedllm admin"');
      return void fail(res, 401, 'the admin token is missing: send "Authorization: Bearer <token>"');
    }
    if (!tokenMatches(given, d.token)) {
      d.log(`admin download refused from ${req.ip}: wrong token`);
      return void fail(res, 403, 'the admin token is wrong');
    }
    const runId = String(req.params.runId);
    const round = Number(req.params.round);
    if (!/^\d{1,9}$/.test(String(req.params.round))) return void fail(res, 400, `round must be a whole number, got ${req.params.round}`);
    const row = d.store.getRound(runId, round);
    if (!row) return void fail(res, 404, `run ${runId} has no committed round ${round}`);
    return { runId, round, row };
  };

  const send = (res: Response, name: string, body: Uint8Array | string, type: string) => {
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Content-Disposition', `attachment; filename="${name}"`);
    res.type(type).send(typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  };

  app.get(`${ADMIN_HTTP_PREFIX}/:runId/rounds/:round/adapter/:file`, async (req, res) => {
    const r = committedRound(req, res);
    if (!r) return;
    try {
      if (req.params.file === ADAPTER_WEIGHTS_FILE) {
        const bytes = await readFile(join(r.row.checkpointDir, ADAPTER_WEIGHTS_FILE));
        if (sha256Hex(bytes) !== r.row.adapterSha256) return fail(res, 500, `the checkpoint of round ${r.round} changed after it committed (sha256 mismatch); refusing to serve it`);
        return send(res, ADAPTER_WEIGHTS_FILE, bytes, 'application/octet-stream');
      }
      if (req.params.file === ADAPTER_CONFIG_FILE) return send(res, ADAPTER_CONFIG_FILE, await readFile(join(r.row.checkpointDir, ADAPTER_CONFIG_FILE), 'utf8'), 'application/json');
      fail(res, 404, `no ${req.params.file}: the adapter has ${ADAPTER_WEIGHTS_FILE} and ${ADAPTER_CONFIG_FILE}`);
    } catch (e) {
      fail(res, 500, `cannot read the checkpoint of round ${r.round}: ${(e as Error).message}`);
    }
  });

  app.get(`${ADMIN_HTTP_PREFIX}/:runId/rounds/:round/merged/:file`, async (req, res) => {
    const r = committedRound(req, res);
    if (!r) return;
    const run = d.store.getRun(r.runId)!;
    let base: LoadedModel;
    try {
      base = await d.baseModel(run);
    } catch (e) {
      return fail(res, e instanceof ModelChangedError ? 409 : 500, `cannot merge round ${r.round} of ${r.runId}: ${(e as Error).message}`);
    }
    const m = base.parts;
    try {
      if (req.params.file === 'config.json') return send(res, 'config.json', m.configJson, 'application/json');
      if (req.params.file === 'tokenizer.json') {
        if (m.tokenizerJson === undefined) return fail(res, 404, 'the base model directory has no tokenizer.json');
        return send(res, 'tokenizer.json', m.tokenizerJson, 'application/json');
      }
      if (req.params.file !== 'model.safetensors') return fail(res, 404, `no ${req.params.file}: the merged model has model.safetensors, config.json and tokenizer.json`);
      const key = `${r.runId}/${r.round}`;
      if (merged?.key !== key) {
        const bytes = (async () => {
          const adapter = await loadRoundCheckpoint(r.row.checkpointDir, m.config, r.row.adapterSha256);
          const w = mergeLoraIntoWeights(m.config, base.weights, adapter);
          return serializeSafetensors(weightsToHfTensors(m.config, w), { format: 'pt' });
        })();
        merged = { key, bytes };
        bytes.catch(() => { if (merged?.key === key) merged = undefined; });
      }
      send(res, 'model.safetensors', await merged.bytes, 'application/octet-stream');
    } catch (e) {
      fail(res, 500, `cannot merge round ${r.round} of ${r.runId}: ${(e as Error).message}`);
    }
  });
}
