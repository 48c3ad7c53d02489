import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A user error: printed as one line, no stack trace, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Runs a CLI main: errors become one clear line on stderr and a non-zero exit code. */
export async function runCli(usage: string, main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (e) {
    const err = e as Error;
    if (err instanceof UsageError || (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      console.error(`error: ${err.message}\nusage: ${usage}`);
      process.exitCode = 2;
    } else {
      console.error(`error: ${err.name && err.name !== 'Error' ? `${err.name}: ` : ''}${err.message}`);
      if (process.env.DEBUG) console.error(err.stack);
      process.exitCode = 1;
    }
  }
}

/** Parses --flags strictly; --help / -h prints the usage line and exits. */
export function parseCliArgs<T extends NonNullable<ParseArgsConfig['options']>>(usage: string, options: T) {
  const { values } = parseArgs({
    options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false,
  });
  if ((values as { help?: boolean }).help) {
    console.log(`usage: ${usage}`);
    process.exit(0);
  }
  return values;
}

export function positiveNumber(v: string | undefined, fallback: number, name: string): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} must be a positive number, got "${v}"`);
  return n;
}

export function positiveInt(v: string | undefined, fallback: number, name: string): number {
  const n = positiveNumber(v, fallback, name);
  if (!Number.isInteger(n)) throw new UsageError(`--${name} must be an integer, got "${v}"`);
  return n;
}

/** "1,2,3" -> [1,2,3] (non-negative integers). */
export function intList(v: string, name: string): number[] {
  const parts = v.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (parts.length === 0) throw new UsageError(`--${name} needs a comma-separated list of integers`);
  return parts.map((p) => {
    const n = Number(p);
    if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name}: "${p}" is not a non-negative integer`);
    return n;
  });
}

export function requireArg(v: string | undefined, name: string): string {
  if (v === undefined || v === '') throw new UsageError(`--${name} is required`);
  return v;
}

/** Seeds and similar: any integer >= 0. */
export function nonNegativeInt(v: string | undefined, fallback: number, name: string): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be an integer >= 0, got "${v}"`);
  return n;
}
