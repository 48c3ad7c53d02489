// The admin dashboard: run control, the live clients table, per-round charts, model downloads and
// "try it", and the run history, all fed by the coordinator's admin socket. The admin token is
// typed by the operator and kept in sessionStorage. Each part lives in src/dashboard/; this file
// only wires them together.
import type { CoordinatorSnapshot } from '@fedllm/core';
import { AdminConnection, type ConnectionState } from './dashboard/adminConnection';
import { savedToken, saveToken } from './dashboard/adminToken';
import { ClientsTable } from './dashboard/clientsTable';
import { byId } from './dashboard/dom';
import { HistoryPanel } from './dashboard/historyPanel';
import { ModelPanel } from './dashboard/modelPanel';
import { RoundCharts } from './dashboard/roundCharts';
import { RunControls } from './dashboard/runControls';
import { RunForm } from './dashboard/runForm';
import { TryItPanel } from './dashboard/tryItPanel';

const tokenInput = byId<HTMLInputElement>('token-input');
const connectionBadge = byId('connection');
let connection: AdminConnection | undefined;
let token: string | undefined;
let lastStatus = '';

const currentToken = () => token;
const clients = new ClientsTable();
const charts = new RoundCharts();
const model = new ModelPanel(currentToken);
const tryIt = new TryItPanel(currentToken);
const history = new HistoryPanel();
const controls = new RunControls(async (action, runId) => {
  await need().request(action, { runId });
  if (action === 'start') {
    form.clearMessage();
    void refreshHistory();
  }
});
const form = new RunForm(async (request) => {
  const { runId } = await need().request('createRun', request);
  form.created(runId);
  controls.setPending(runId);
  void refreshHistory();
});

function need(): AdminConnection {
  if (!connection?.connected) throw new Error('not connected to the coordinator: enter the admin token');
  return connection;
}

function showConnection(state: ConnectionState, detail?: string): void {
  connectionBadge.dataset.state = state;
  connectionBadge.textContent = state === 'refused' ? 'token refused' : state === 'connected' ? 'connected' : state === 'connecting' ? 'connecting…' : `not connected${detail ? ` (${detail})` : ''}`;
  controls.setConnected(state === 'connected');
  if (state === 'connected') {
    void refreshHistory();
    void refreshModels();
  }
}

function showState(s: CoordinatorSnapshot): void {
  controls.show(s);
  clients.show(s.clients, s.departedClients ?? [], s.model?.numLayers);
  charts.show(s.rounds, s.baseAccuracy);
  model.show(s.runId, s.rounds);
  tryIt.show(s);
  if (s.model) form.showModel(`${s.model.dir} (${s.model.architecture}, ${s.model.numLayers} layers, id ${s.model.id})`);
  const status = `${s.runId}:${s.status}:${s.rounds.length}`;
  if (status !== lastStatus) {
    lastStatus = status;
    void refreshHistory();
  }
}

/** The model choices of the form (the coordinator lists its models root). */
async function refreshModels(): Promise<void> {
  if (!connection?.connected) return;
  try {
    form.showModels(await connection.request('listModels'));
  } catch (e) {
    console.warn(`models: ${(e as Error).message}`);
  }
}

async function refreshHistory(): Promise<void> {
  if (!connection?.connected) return;
  try {
    history.show((await connection.request('listRuns')).runs);
  } catch (e) {
    console.warn(`history: ${(e as Error).message}`);
  }
}

function connect(t: string): void {
  connection?.close();
  token = t;
  connection = new AdminConnection(t, {
    onState: showState,
    onRoundCommitted: () => void refreshHistory(),
    onConnection: showConnection,
  });
}

byId('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const t = tokenInput.value.trim();
  if (!t) return;
  saveToken(t);
  connect(t);
});
byId('token-forget').addEventListener('click', () => {
  saveToken(undefined);
  tokenInput.value = '';
  connection?.close();
  connection = undefined;
  token = undefined;
  showConnection('disconnected');
});

const saved = savedToken();
if (saved) {
  tokenInput.value = saved;
  connect(saved);
}
