import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loraToPeftTensors, readSafetensorsHeader } from '@fedllm/core';
import { loadAdapterDir } from '@fedllm/core/node';
import {
  listRoundCheckpoints, loadRoundCheckpoint, pruneRoundCheckpoints, roundCheckpointDir, RoundCheckpointError, writeRoundCheckpoint,
  type RoundCheckpointErrorCode,
} from '../../src/storage/roundCheckpoints';
import { tempDir, TINY_MODEL, tinyAdapter } from './storageFixtures';

const refused = (code: RoundCheckpointErrorCode) => (e: unknown) => e instanceof RoundCheckpointError && e.code === code;

test('a round checkpoint is a PEFT directory whose weights hash to the returned sha256 and load back unchanged', async () => {
  const { dir, cleanup } = await tempDir('ckpt-');
  try {
    const adapter = tinyAdapter(1);
    const w = await writeRoundCheckpoint({ runsDir: dir, runId: 'run-1', round: 7, adapter, model: TINY_MODEL, baseModel: 'tiny' });
    assert.equal(w.dir, join(dir, 'run-1', 'round-0007'));
    assert.deepEqual((await readdir(w.dir)).sort(), ['adapter_config.json', 'adapter_model.safetensors']);
    const bytes = await readFile(join(w.dir, 'adapter_model.safetensors'));
    assert.equal(w.adapterSha256, createHash('sha256').update(bytes).digest('hex'));
    assert.equal(w.bytes, bytes.byteLength);
    // PEFT tensor names, as Python PEFT expects them.
    const names = [...readSafetensorsHeader(new Uint8Array(bytes)).tensors.keys()].sort();
    assert.deepEqual(names, [...loraToPeftTensors(adapter).keys()].sort());
    assert.ok(names.includes('base_model.model.model.layers.1.mlp.down_proj.lora_B.weight'));
    const cfg = JSON.parse(await readFile(join(w.dir, 'adapter_config.json'), 'utf8'));
    assert.equal(cfg.peft_type, 'LORA');
    assert.deepEqual(cfg.target_modules, ['q_proj', 'down_proj']);

    // Loaded with the sha check, and by the independent core reader: both equal the written adapter.
    for (const loaded of [await loadRoundCheckpoint(w.dir, TINY_MODEL, w.adapterSha256), await loadAdapterDir(w.dir, TINY_MODEL)]) {
      assert.deepEqual(loaded.config, adapter.config);
      for (const [layer, l] of adapter.layers) {
        for (const t of ['q', 'down'] as const) {
          assert.deepEqual(loaded.layers.get(layer)![t]!.A.data, l[t]!.A.data);
          assert.deepEqual(loaded.layers.get(layer)![t]!.B.data, l[t]!.B.data);
        }
      }
    }
  } finally {
    await cleanup();
  }
});

test('loading refuses a checkpoint whose weights changed after commit, or that is missing', async () => {
  const { dir, cleanup } = await tempDir('ckpt-');
  try {
    const w = await writeRoundCheckpoint({ runsDir: dir, runId: 'run-1', round: 0, adapter: tinyAdapter(2), model: TINY_MODEL, baseModel: 'tiny' });
    const path = join(w.dir, 'adapter_model.safetensors');
    const bytes = await readFile(path);
    bytes[bytes.length - 1] ^= 0x01; // one bit of one weight
    await writeFile(path, bytes);
    await assert.rejects(loadRoundCheckpoint(w.dir, TINY_MODEL, w.adapterSha256), refused('hash-mismatch'));
    await assert.rejects(loadRoundCheckpoint(join(dir, 'run-1', 'round-0009'), TINY_MODEL, w.adapterSha256), refused('missing'));
  } finally {
    await cleanup();
  }
});

test('writing a round replaces leftovers of a crash: a half-written .partial dir and an uncommitted round dir', async () => {
  const { dir, cleanup } = await tempDir('ckpt-');
  try {
    const final = roundCheckpointDir(dir, 'run-1', 3);
    await mkdir(final + '.partial', { recursive: true });
    await writeFile(join(final + '.partial', 'adapter_model.safetensors'), 'torn');
    await mkdir(final, { recursive: true });
    await writeFile(join(final, 'adapter_model.safetensors'), 'from an attempt that never committed');
    await writeFile(join(final, 'stray.txt'), 'x');
    const adapter = tinyAdapter(3);
    const w = await writeRoundCheckpoint({ runsDir: dir, runId: 'run-1', round: 3, adapter, model: TINY_MODEL, baseModel: 'tiny' });
    assert.deepEqual((await readdir(join(dir, 'run-1'))).sort(), ['round-0003']);
    assert.deepEqual((await readdir(w.dir)).sort(), ['adapter_config.json', 'adapter_model.safetensors']);
    const loaded = await loadRoundCheckpoint(w.dir, TINY_MODEL, w.adapterSha256);
    assert.deepEqual(loaded.layers.get(0)!.q!.B.data, adapter.layers.get(0)!.q!.B.data);
  } finally {
    await cleanup();
  }
});

test('prune keeps the newest K committed rounds and always the committed one; drops uncommitted rounds and partials', async () => {
  const { dir, cleanup } = await tempDir('ckpt-');
  try {
    for (const round of [0, 1, 2, 3, 4, 5]) {
      await writeRoundCheckpoint({ runsDir: dir, runId: 'run-1', round, adapter: tinyAdapter(round), model: TINY_MODEL, baseModel: 'tiny' });
    }
    await mkdir(roundCheckpointDir(dir, 'run-1', 6) + '.partial');
    await writeFile(join(dir, 'run-1', 'notes.txt'), 'not a checkpoint');
    // Round 5 was written but its commit never happened: the store says 4 is committed.
    const removed = await pruneRoundCheckpoints(dir, 'run-1', { keep: 2, committedRound: 4 });
    assert.deepEqual((await listRoundCheckpoints(dir, 'run-1')).map((c) => c.round), [3, 4]);
    assert.equal(removed.length, 3 + 1 + 1);
    assert.deepEqual((await readdir(join(dir, 'run-1'))).sort(), ['notes.txt', 'round-0003', 'round-0004']);

    await pruneRoundCheckpoints(dir, 'run-1', { keep: 1, committedRound: 4 });
    assert.deepEqual((await listRoundCheckpoints(dir, 'run-1')).map((c) => c.round), [4]);
    await assert.rejects(pruneRoundCheckpoints(dir, 'run-1', { keep: 0, committedRound: 4 }), refused('bad-keep'));
    assert.deepEqual(await listRoundCheckpoints(dir, 'no-such-run'), []);
  } finally {
    await cleanup();
  }
});

test('run ids that could leave the runs directory are refused', () => {
  for (const bad of ['..', '.', 'a/b', '../x', '']) {
    assert.throws(() => roundCheckpointDir('/runs', bad, 0), refused('bad-run-id'), bad);
  }
  assert.equal(roundCheckpointDir('/runs', 'run-20250101-ab12', 12345), '/runs/run-20250101-ab12/round-12345');
});
