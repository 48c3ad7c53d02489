/**
 * A parsed GGUF file as the importers see it: metadata and a validated tensor table whose byte
 * ranges lie inside the file. Reading the header is environment-specific (node/ggufFile.ts); what
 * is built from it here runs anywhere.
 */
import { ggmlTensorBytes, ggmlTypeName } from './ggmlTypes';

/** Thrown for a GGUF file that is malformed, truncated or of an architecture we do not import. */
export class GgufError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'GgufError';
  }
}

/** One tensor of the table. `shape` is in ggml order (innermost first), as the file stores it. */
export interface GgufTensorInfo {
  name: string;
  shape: number[];
  type: number;
  /** Byte offset of the tensor's data within the file. */
  offset: number;
  byteLength: number;
}

/** Metadata values: numbers (64-bit ones as bigint), strings, booleans and arrays of them. */
export type GgufMetadata = Record<string, unknown>;

export interface GgufContents {
  metadata: GgufMetadata;
  tensors: Map<string, GgufTensorInfo>;
}

/** Builds the tensor table, checking every tensor's type, shape and byte range against the file size. */
export function ggufTensorTable(
  infos: readonly { name: string; shape: readonly (number | bigint)[]; type: number; relativeOffset: number | bigint }[],
  dataStart: number,
  fileBytes: number,
): Map<string, GgufTensorInfo> {
  const table = new Map<string, GgufTensorInfo>();
  for (const info of infos) {
    if (table.has(info.name)) throw new GgufError(`tensor "${info.name}" appears twice in the tensor table`);
    const shape = info.shape.map(Number);
    if (shape.length === 0 || shape.some((d) => !Number.isSafeInteger(d) || d <= 0)) {
      throw new GgufError(`tensor "${info.name}" has an invalid shape [${shape.join(', ')}]`);
    }
    let byteLength: number;
    try {
      byteLength = ggmlTensorBytes(info.type, shape[0], shape.slice(1).reduce((a, b) => a * b, 1));
    } catch (e) {
      throw new GgufError(`tensor "${info.name}" (${ggmlTypeName(info.type)}): ${(e as Error).message}`, { cause: e });
    }
    const offset = dataStart + Number(info.relativeOffset);
    if (!Number.isSafeInteger(offset) || offset + byteLength > fileBytes) {
      throw new GgufError(
        `tensor "${info.name}" needs bytes ${offset}..${offset + byteLength} but the file has ${fileBytes}: the file is truncated`,
      );
    }
    table.set(info.name, { name: info.name, shape, type: info.type, offset, byteLength });
  }
  return table;
}
