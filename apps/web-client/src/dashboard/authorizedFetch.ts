/**
 * Fetches an admin route with the token in an Authorization header (never in the address), and
 * saves a response as a file through a temporary object URL.
 */
export async function authorizedFetch(path: string, token: string): Promise<Response> {
  const res = await fetch(path, { headers: { Authorization: `Bearer ${token}` }, cache: 'no-store' });
  if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status}: ${(await res.text()).slice(0, 300)}`);
  return res;
}

export async function downloadAs(path: string, token: string, fileName: string): Promise<number> {
  const blob = await (await authorizedFetch(path, token)).blob();
  const url = URL.createObjectURL(blob);
  try {
    const a = document.createElement('a');
    a.href = url;
    a.download = fileName;
    document.body.append(a);
    a.click();
    a.remove();
  } finally {
    // The download has its own reference once started; give it a moment before revoking.
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  }
  return blob.size;
}

/** The admin route of a committed round's file (adapter/... or merged/...). */
export function roundFilePath(runId: string, round: number, file: string): string {
  return `/admin/runs/${encodeURIComponent(runId)}/rounds/${round}/${file}`;
}
