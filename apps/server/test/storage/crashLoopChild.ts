/**
 * Child process of runStoreCrash.test.ts: plays a coordinator's round loop against a run store
 * (assign, outcomes, checkpoint, commit) until the run completes, yielding to the event loop
 * between steps so that a SIGKILL from the parent can land anywhere in a round.
 * Usage: tsx crashLoopChild.ts <db path> <runs dir> <run id>. Prints "ready <committed> <abandoned>" then "done".
 *
 * Each committed checkpoint is stamped with its round (every A value) and the samples of the
 * updates it counted (every B value), so the parent can tell a checkpoint of the committed attempt
 * from one of an attempt that died before its commit.
 */
import { randomUUID } from 'node:crypto';
import { RunStore } from '../../src/storage/runStore';
import { loadRoundCheckpoint, writeRoundCheckpoint } from '../../src/storage/roundCheckpoints';
import { CHILD_CLIENTS, MIN_UPDATES, PLAN_JSON, stampedAdapter, TINY_MODEL } from './storageFixtures';

const pause = () => new Promise((r) => setTimeout(r, Math.random() * 3));

async function main(): Promise<void> {
  const [dbPath, runsDir, runId] = process.argv.slice(2);
  const store = RunStore.open(dbPath);
  const resume = store.resumeState(runId);
  // What a real restart does: the committed adapter must load (and match its recorded sha256).
  if (resume.committedRound >= 0) await loadRoundCheckpoint(resume.checkpointDir!, TINY_MODEL, resume.adapterSha256!);
  process.stdout.write(`ready ${resume.committedRound} ${resume.abandonedAssignments}\n`);

  let attempt = resume.nextAttempt;
  for (let round = resume.committedRound + 1; round < resume.run.totalRounds;) {
    const startedAt = Date.now();
    const tasks: string[] = [];
    for (const clientId of CHILD_CLIENTS) {
      const taskId = randomUUID();
      store.recordAssignment({ taskId, runId, round, attempt, clientId, planJson: PLAN_JSON, budgetBytes: 1000, estimateBytes: 900, issuedAt: Date.now(), deadline: Date.now() + 60_000 });
      tasks.push(taskId);
      await pause();
    }
    const received: { taskId: string; numSamples: number }[] = [];
    for (const taskId of tasks) {
      if (Math.random() < 0.7) {
        const numSamples = 1 + Math.floor(Math.random() * 50);
        store.recordOutcome(taskId, { status: 'received', numSamples, bytesUp: 100 });
        received.push({ taskId, numSamples });
      } else {
        store.recordOutcome(taskId, { status: 'failed', reason: 'error: simulated' });
      }
      await pause();
    }
    if (received.length < MIN_UPDATES) {
      attempt++;
      continue;
    }
    const samples = received.reduce((s, r) => s + r.numSamples, 0);
    const w = await writeRoundCheckpoint({ runsDir, runId, round, adapter: stampedAdapter(round, samples), model: TINY_MODEL, baseModel: 'tiny' });
    await pause();
    store.commitRound({
      runId, round, attempt, startedAt, checkpointDir: w.dir, adapterSha256: w.adapterSha256, countedTaskIds: received.map((r) => r.taskId),
      accuracy: 0.5, evalLoss: 1, trainLoss: 1, bytesUp: 100 * received.length, bytesDown: 0, metrics: { samples },
    });
    round++;
    attempt = 0;
  }
  store.setRunStatus(runId, 'completed');
  store.close();
  process.stdout.write('done\n');
}

await main();
