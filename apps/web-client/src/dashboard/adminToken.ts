/**
 * The admin token as the operator typed it: kept in sessionStorage (this tab only, gone when it
 * closes), never put in a page address.
 */
const KEY = 'fedllm.adminToken';

export function savedToken(): string | undefined {
  try {
    return sessionStorage.getItem(KEY) ?? undefined;
  } catch {
    return undefined; // storage disabled: the operator types it again
  }
}

export function saveToken(token: string | undefined): void {
  try {
    if (token) sessionStorage.setItem(KEY, token);
    else sessionStorage.removeItem(KEY);
  } catch {
    // storage disabled: nothing kept
  }
}
