/**
 * A GGUF file held in memory, parsed: header, metadata and tensor table through @huggingface/gguf
 * (served its range requests from the buffer, so the same code runs in Node and in a browser),
 * tensor ranges checked by us.
 */
import { gguf } from '@huggingface/gguf';
import { GgufError, ggufTensorTable, type GgufContents } from './ggufContents';

export interface GgufFile {
  /** Where it came from, for error messages. */
  path: string;
  contents: GgufContents;
  bytes: Uint8Array;
}

/** Parses a whole GGUF file. @throws GgufError naming `path` and what is wrong. */
export async function parseGgufBytes(bytes: Uint8Array, path: string): Promise<GgufFile> {
  // Response exists in Node 18+ and browsers; core compiles without DOM types, hence the casts.
  const Response = (globalThis as unknown as { Response: new (body: Uint8Array, init: object) => unknown }).Response;
  const rangeFetch = async (_url: unknown, init?: { headers?: Record<string, string> }) => {
    const range = /bytes=(\d+)-(\d+)/.exec(init?.headers?.Range ?? '');
    const start = Math.min(range ? Number(range[1]) : 0, bytes.length);
    const end = range ? Math.min(Number(range[2]) + 1, bytes.length) : bytes.length;
    return new Response(bytes.slice(start, end), { status: 206, headers: { 'Content-Range': `bytes ${start}-${end - 1}/${bytes.length}` } });
  };
  let parsed: Awaited<ReturnType<typeof gguf>>;
  try {
    parsed = await gguf('https://in-memory.invalid/model.gguf', { fetch: rangeFetch as unknown as Parameters<typeof gguf>[1] extends { fetch?: infer F } ? F : never });
  } catch (e) {
    throw new GgufError(`${path} is not a readable GGUF file: ${(e as Error).message}`, { cause: e });
  }
  if (!parsed.littleEndian) throw new GgufError(`${path} is a big-endian GGUF; only little-endian files are supported`);
  // The header reader does not bound its reads by the file size: a cut header parses as zeros.
  const dataStart = Number(parsed.tensorDataOffset);
  if (!(dataStart <= bytes.length) || parsed.tensorInfoByteRange[1] > bytes.length) {
    throw new GgufError(`${path} is truncated: its header runs to byte ${Math.max(dataStart, parsed.tensorInfoByteRange[1])}, the file has ${bytes.length}`);
  }
  try {
    const tensors = ggufTensorTable(
      parsed.tensorInfos.map((t) => ({ name: t.name, shape: t.shape, type: t.dtype, relativeOffset: t.offset })),
      dataStart,
      bytes.length,
    );
    return { path, contents: { metadata: parsed.metadata as Record<string, unknown>, tensors }, bytes };
  } catch (e) {
    throw new GgufError(`${path}: ${(e as Error).message}`, { cause: e });
  }
}
