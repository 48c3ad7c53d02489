/** What a committed round reports: its metrics and each tab's part in it (dashboard, history, store). */
export interface RoundSummary {
  round: number;
  accuracy: number;
  evalLoss: number;
  trainLoss: number;
  participants: number;
  bytesUp: number;
  bytesDown: number;
  durationMs: number;
  clients: ClientRoundSummary[];
}

export interface ClientRoundSummary {
  clientId: string;
  label?: string;
  plan: string;
  layersKept: number;
  budgetBytes: number;
  estimateBytes: number;
  peakBytes?: number;
  bytesUp: number;
  bytesDown: number;
  status: string;
  reason?: string;
  trainLoss?: number;
  tokensPerSecond?: number;
}
