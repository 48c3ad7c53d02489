/** "16MiB", "1.5GiB", "800KB", "123456" -> bytes (binary units KiB/MiB/GiB, decimal KB/MB/GB). */
export function parseByteSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?\s*$/i.exec(text);
  if (!m) throw new Error(`"${text}" is not a byte size (examples: 16MiB, 1.5GiB, 800000)`);
  const unit = (m[2] ?? 'B').toLowerCase();
  const mult: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30 };
  const v = Math.floor(Number(m[1]) * mult[unit]);
  if (v <= 0) throw new Error(`byte size "${text}" must be positive`);
  return v;
}

export function formatBytes(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '-';
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)}GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)}MiB`;
  if (n >= 2 ** 10) return `${(n / 2 ** 10).toFixed(1)}KiB`;
  return `${n}B`;
}
