/** Timeouts and limits of the coordinator's side of the protocol, in one place. */

/** How long a tab has to acknowledge (validate and accept, or refuse) an assignment. */
export const ASSIGN_ACK_TIMEOUT_MS = 30_000;

/** Upper bound of socket.io's maxHttpBufferSize, whatever the model: bounds what one message can make the server hold. */
export const MAX_MESSAGE_BYTES = 256 * 1024 * 1024;
