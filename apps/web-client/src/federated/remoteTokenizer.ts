/**
 * The run's tokenizer, fetched from the coordinator (assignment.model.tokenizerUrl) once per URL:
 * model URLs are content-addressed, so a URL's tokenizer never changes.
 */
import { TextTokenizer } from '@fedllm/core';

const cache = new Map<string, Promise<{ tokenizer: TextTokenizer; bytes: number }>>();

/**
 * Fetches and parses tokenizer.json at `base + url`; a failed fetch is not cached.
 * @returns the tokenizer and the bytes fetched (0 when it came from the cache).
 */
export async function fetchTokenizer(url: string, base = '', fetchFn: typeof fetch = fetch): Promise<{ tokenizer: TextTokenizer; bytes: number }> {
  const key = `${base}${url}`;
  const cached = cache.get(key);
  if (cached) return { tokenizer: (await cached).tokenizer, bytes: 0 };
  const p = (async () => {
    const res = await fetchFn(key);
    if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new Error(`${url} is not valid JSON: ${(e as Error).message}`);
    }
    return { tokenizer: new TextTokenizer(json), bytes: text.length };
  })();
  cache.set(key, p);
  p.catch(() => cache.delete(key));
  return p;
}
