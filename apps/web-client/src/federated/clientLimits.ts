/** Limits and timeouts of the tab's side of the protocol, in one place. */

/** How long the tab waits for the coordinator to acknowledge a hello, update or failure report. */
export const ACK_TIMEOUT_MS = 30_000;

/** Largest assignment (adapter + token batches) a tab accepts: bounds what a hostile server can make it hold. */
export const MAX_ASSIGNMENT_BYTES = 64 * 1024 * 1024;
