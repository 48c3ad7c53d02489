/**
 * SELECT lists that alias the snake_case columns to the camelCase fields of the row types in
 * @fedllm/core, so a fetched row is already the row type (SQLite returns INTEGER and REAL as
 * numbers, TEXT as strings, NULL as null).
 */
export const RUN_COLUMNS = `id, name, status, settings_json AS settingsJson, model_dir AS modelDir, model_id AS modelId,
  task, strategy, total_rounds AS totalRounds, committed_round AS committedRound, samples_total AS samplesTotal,
  created_at AS createdAt, updated_at AS updatedAt`;

export const ROUND_COLUMNS = `run_id AS runId, round, attempt, status, started_at AS startedAt, committed_at AS committedAt,
  checkpoint_dir AS checkpointDir, adapter_sha256 AS adapterSha256, participants, num_samples AS numSamples, accuracy,
  eval_loss AS evalLoss, train_loss AS trainLoss, bytes_up AS bytesUp, bytes_down AS bytesDown, duration_ms AS durationMs`;

export const CLIENT_COLUMNS = `id, first_seen AS firstSeen, last_seen AS lastSeen, capabilities_json AS capabilitiesJson,
  budget_bytes AS budgetBytes, status, last_error AS lastError`;

export const ASSIGNMENT_COLUMNS = `task_id AS taskId, run_id AS runId, round, attempt, client_id AS clientId, label,
  plan_json AS planJson, budget_bytes AS budgetBytes, estimate_bytes AS estimateBytes, issued_at AS issuedAt, deadline,
  status, settled_at AS settledAt, peak_bytes AS peakBytes, num_samples AS numSamples, train_loss AS trainLoss,
  tokens_per_second AS tokensPerSecond, bytes_up AS bytesUp, bytes_down AS bytesDown, reason,
  counted_round AS countedRound, discarded_at AS discardedAt`;

export const METRIC_COLUMNS = 'run_id AS runId, round, name, value';
