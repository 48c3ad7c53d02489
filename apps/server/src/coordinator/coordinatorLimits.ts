/** Timeouts and limits of the coordinator's side of the protocol, in one place. */
import type { LoraConfig } from '@fedllm/core';

/** How long a tab has to acknowledge (validate and accept, or refuse) an assignment. */
export const ASSIGN_ACK_TIMEOUT_MS = 30_000;

/** Upper bound of socket.io's maxHttpBufferSize, whatever the model: bounds what one message can make the server hold. */
export const MAX_MESSAGE_BYTES = 256 * 1024 * 1024;

/** Room on top of an update's tensors in one socket.io message (its metadata and framing). */
export const MESSAGE_HEADROOM = 1_048_576;

/** The largest LoRA the run settings allow (rank 256 on every target): sizes the message cap. */
export const MAX_LORA: LoraConfig = { rank: 256, alpha: 1, targets: ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] };
