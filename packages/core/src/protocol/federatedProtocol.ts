/**
 * The socket protocol between the coordinator and volunteer tabs, typed once here and validated at
 * both edges with these zod schemas (a tab is untrusted; so, to a tab, is whatever answers on the
 * socket). Every round message carries runId, round and taskId; taskIds are fresh per assignment,
 * so an update for an assignment the coordinator no longer holds (an old round, a round re-run
 * after a restart, a replay) is refused as stale. Adapters travel as binary safetensors, never JSON.
 */
import { z } from 'zod';
import { LORA_TARGETS } from '../model/lora';
import { WEIGHT_FORMATS } from '../model/weightQuantization';

export const PROTOCOL_VERSION = 1;

/** Socket.io namespaces: volunteers need no token; the admin namespace does. */
export const VOLUNTEER_NAMESPACE = '/volunteer';
export const ADMIN_NAMESPACE = '/admin';

/** Why a message was refused: a closed set, so tabs and dashboards can react per code. */
export const PROTOCOL_ERROR_CODES = [
  'bad-message', 'unsupported-protocol', 'unknown-task', 'stale-round', 'duplicate', 'wrong-client', 'bad-tensor',
  'not-finite', 'too-large', 'unauthorized', 'run-not-active', 'bad-settings', 'not-found', 'internal',
] as const;
export type ProtocolErrorCode = (typeof PROTOCOL_ERROR_CODES)[number];

export interface ProtocolErrorBody {
  code: ProtocolErrorCode;
  message: string;
  /** For settings errors: the field at fault (e.g. "lora.rank"). */
  field?: string;
}

/** Thrown by the edges for refused messages; serialised into acks as {ok:false, error}. */
export class ProtocolError extends Error {
  override name = 'ProtocolError';
  constructor(readonly code: ProtocolErrorCode, message: string, readonly field?: string) {
    super(message);
  }
  toBody(): ProtocolErrorBody {
    return this.field ? { code: this.code, message: this.message, field: this.field } : { code: this.code, message: this.message };
  }
}

export type Ack<T = unknown> = ({ ok: true } & T) | { ok: false; error: ProtocolErrorBody };

const shortText = (max = 256) => z.string().max(max);
const id = z.string().min(1).max(64).regex(/^[A-Za-z0-9_.:-]+$/, 'ids use letters, digits and _.:- only');
const nonNegInt = z.number().int().nonnegative();
const posInt = z.number().int().positive();
const finite = z.number().finite();

/** socket.io delivers binary as Buffer in Node and ArrayBuffer in browsers: accept both, hand out Uint8Array. */
export const binarySchema = z
  .custom<ArrayBuffer | Uint8Array>((v) => v instanceof ArrayBuffer || v instanceof Uint8Array, { message: 'expected binary data' })
  // A Node Buffer becomes a plain view: Buffer.slice() shares memory, which surprises Uint8Array code.
  .transform((v) => (v instanceof Uint8Array ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : new Uint8Array(v)));

// ---------------------------------------------------------------- tab -> coordinator: hello
export const clientCapabilitiesSchema = z.object({
  adapter: z.object({
    vendor: shortText(), architecture: shortText(), description: shortText(), isFallbackAdapter: z.boolean(),
  }),
  limits: z.object({ maxBufferSize: posInt, maxStorageBufferBindingSize: posInt }),
  features: z.array(shortText(64)).max(64),
  /** GPU bytes this tab lets a training session use. */
  budgetBytes: posInt,
  budgetSource: z.enum(['probe', 'user', 'preset']),
  /** 'local': the tab trains on a file its user picked, which never leaves the tab. */
  dataSource: z.enum(['assigned', 'local']),
  /** Free-form name (the swarm labels its tabs). */
  label: shortText(64).optional(),
});
export type ClientCapabilities = z.infer<typeof clientCapabilitiesSchema>;

export const helloSchema = z.object({
  protocol: z.number().int(),
  /** Sent again after a reconnect so the coordinator keeps one registry row per tab. */
  clientId: id.optional(),
  capabilities: clientCapabilitiesSchema,
});
export type Hello = z.infer<typeof helloSchema>;
export type HelloAck = Ack<{ clientId: string; maxUpdateBytes: number }>;

// ---------------------------------------------------------------- coordinator -> tab: a round assignment
export const submodelPlanSchema = z.object({
  layers: z.array(z.object({ index: nonNegInt, attention: z.boolean(), mlp: z.boolean() })).max(1024),
});

export const loraConfigSchema = z.object({
  rank: z.number().int().min(1).max(1024),
  alpha: z.number().finite().positive(),
  targets: z.array(z.enum(LORA_TARGETS)).min(1).max(LORA_TARGETS.length),
});

export const modelPartSchema = z.object({ url: shortText(512), bytes: nonNegInt });

export const assignmentSchema = z.object({
  runId: id,
  round: nonNegInt,
  taskId: id,
  /** Epoch milliseconds after which the coordinator stops waiting for this update. */
  deadline: z.number().int(),
  model: z.object({
    id: id,
    configUrl: shortText(512),
    tokenizerUrl: shortText(512),
    /** safetensors files holding the base tensors of exactly the kept parts (HF names). */
    parts: z.array(modelPartSchema).max(4096),
    /**
     * How the tab stores the frozen projections on the GPU (FedSODA: int8 / int4). The parts hold
     * their quantize-dequantize image, which the worker packs again exactly (same scales and codes).
     */
    weightFormat: z.enum(WEIGHT_FORMATS).default('f32'),
  }),
  plan: submodelPlanSchema,
  lora: loraConfigSchema,
  train: z.object({
    steps: z.number().int().min(1).max(100_000),
    batch: z.number().int().min(1).max(4096),
    seqLen: z.number().int().min(2).max(1 << 16),
    lr: z.number().finite().positive(),
    clipNorm: z.number().finite().positive().optional(),
    /** LM head and loss over this many token rows at a time (the plan was sized with it). */
    logitsChunkRows: z.number().int().positive().optional(),
  }),
  /** Assigned token batches (steps × batch × seqLen int32, little-endian), or none for local-data tabs. */
  data: z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('batches'), inputIds: binarySchema, targets: binarySchema, numSamples: posInt }),
    z.object({ kind: z.literal('local') }),
  ]),
  /** Starting LoRA of the kept layers: PEFT-named safetensors. */
  adapter: binarySchema,
  budgetBytes: posInt,
  estimateBytes: posInt,
});
export type Assignment = z.infer<typeof assignmentSchema>;
/** What the coordinator emits (before the receiving edge's transform of binary fields). */
export type AssignmentWire = z.input<typeof assignmentSchema>;

// ---------------------------------------------------------------- tab -> coordinator: update or failure
export const updateMetaSchema = z.object({
  runId: id,
  round: nonNegInt,
  taskId: id,
  numSamples: posInt,
  // JSON spells NaN and ±Infinity as null: let them through here so the coordinator can refuse
  // the update as 'not-finite' (a diverged run) rather than as a malformed message.
  losses: z.array(z.number().nullable().transform((v) => v ?? Number.NaN)).min(1).max(100_000),
  peakBytes: posInt,
  estimateBytes: posInt,
  tokensPerSecond: z.number().nonnegative(),
  buildMs: z.number().nonnegative(),
  trainMs: z.number().nonnegative(),
  /** Bytes of model parts this tab downloaded over HTTP for the assignment (0 when cached). */
  bytesDownloaded: nonNegInt,
});
export type UpdateMeta = z.infer<typeof updateMetaSchema>;

export const TRAINING_FAILURE_CODES = ['budget', 'device-lost', 'out-of-memory', 'download', 'bad-assignment', 'error'] as const;
export const failureSchema = z.object({
  runId: id,
  round: nonNegInt,
  taskId: id,
  code: z.enum(TRAINING_FAILURE_CODES),
  message: shortText(2000),
});
export type TrainingFailure = z.infer<typeof failureSchema>;

/** Coordinator -> tab: stop working on an assignment (round closed, run paused or stopped). */
export interface CancelNotice {
  runId: string;
  round: number;
  taskId: string;
  reason: string;
}

/** Coordinator -> everyone: coarse run state, for the volunteer page's display. */
export interface RunBroadcast {
  runId: string | null;
  status: string;
  round: number;
  totalRounds: number;
  connectedClients: number;
}

export interface VolunteerServerToClient {
  assign: (a: AssignmentWire) => void;
  cancel: (c: CancelNotice) => void;
  run: (r: RunBroadcast) => void;
}

export interface VolunteerClientToServer {
  hello: (h: Hello, ack: (a: HelloAck) => void) => void;
  update: (meta: UpdateMeta, adapter: ArrayBuffer | Uint8Array, ack: (a: Ack) => void) => void;
  failed: (f: TrainingFailure, ack: (a: Ack) => void) => void;
}

/** Parses untrusted input with a schema, turning zod's issues into one readable ProtocolError. */
export function parseMessage<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const first = r.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
  const field = r.error.issues[0]?.path.join('.');
  throw new ProtocolError('bad-message', `malformed ${what}: ${first}`, field || undefined);
}
