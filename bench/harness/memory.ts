// The memory checks' lines (bench/node/memory.ts) in words: how much a 1 GiB send raised peak RSS,
// and how RSS moved over 10^6 small messages.
type Line = Record<string, unknown>;

function memoryLine(l: Line): string {
  if (l.bench === 'memory-big') {
    return `${l.impl}: send of ${fmtMB(l.messageMB)} raised peak RSS by ${fmtMB(l.value)} (${(100 * Number(l.fraction)).toFixed(2)}% of the message)`;
  }
  const gc = l.gc ? `, ${signed(l.value)} after GC` : '';
  return `${l.impl}: ${count(Number(l.iters))} round trips of 8 B: RSS ${fmtMB(l.rssBeforeMB)} -> ${fmtMB(l.rssAfterMB)} ` +
    `(${signed(l.deltaNoGcMB)}${gc})`;
}

export function memoryText(lines: Line[]): string {
  return ['Memory (2 ranks, the larger of the two)', ...lines.map((l) => `  ${memoryLine(l)}`)].join('\n');
}

export function memoryMarkdown(lines: Line[]): string {
  return ['**Memory** (2 ranks, the larger of the two)', '', ...lines.map((l) => `- ${memoryLine(l)}`), ''].join('\n');
}

function fmtMB(v: unknown): string {
  return `${Number(v).toFixed(1)} MB`;
}

function signed(v: unknown): string {
  const n = Number(v);
  return `${n >= 0 ? '+' : ''}${n.toFixed(1)} MB`;
}

function count(n: number): string {
  const e = Math.log10(n);
  return Number.isInteger(e) && e >= 3 ? `10^${e}` : String(n);
}
