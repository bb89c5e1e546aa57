// The results as tables: one section per benchmark, a row per size, a column per variant holding the
// median and its same-repetition ratio to the section's reference (C, or the raw send for channels).
// Rendered as aligned text for the terminal and as Markdown for bench/results/table.md and the README.
import type { Judged } from './targets.js';
import { isReference, refOf, type Results, type Sel } from './stats.js';
import { renderVersus, versusMpi4py } from './versus.js';

interface Column {
  label: string;
  impl: string;
  bench?: string;
  /** Reference of the ratio; none for the reference column itself. */
  ref?: { bench: string; impl: string };
}

export interface Section {
  title: string;
  bench: string;
  ranks: number;
  unit: string;
  sizes: number[];
  columns: Column[];
}

const LABELS: Record<string, string> = {
  c: 'C', 'mpi4node-blocking': 'blocking', 'mpi4node-promise': 'Promise', mpi4py: 'mpi4py',
  'c-hugepages': 'C, huge pages*', 'c-nonblocking': 'C, Iallreduce', 'mpi4node-channel': 'channel', 'mpi4node-channel-promise': 'channel (Promise)',
  'c-persistent': 'C, persistent', 'mpi4node-persistent': 'persistent', 'mpi4py-persistent': 'mpi4py, persistent',
};

export function sections(res: Results): Section[] {
  const out: Section[] = [];
  const vsC = (bench: string, ranks: number, title: string, unit: string) => {
    const impls = res.impls(bench, ranks);
    if (!impls.length) return;
    const order = ['c', 'c-nonblocking', 'mpi4node-blocking', 'mpi4node-promise', 'mpi4py', 'c-persistent', 'mpi4node-persistent',
      'mpi4py-persistent', 'c-hugepages'].filter((i) => impls.includes(i));
    out.push({
      title, bench, ranks, unit, sizes: res.sizes(bench, ranks),
      columns: order.map((impl) => ({
        label: LABELS[impl] ?? impl, impl,
        ref: isReference(impl) ? undefined : refOf(bench, impl),
      })),
    });
  };
  vsC('latency', 2, 'Latency: half round trip, 2 ranks (lower is better)', 'us');
  vsC('bw', 2, 'Bandwidth: window of 64 messages, 2 ranks (higher is better; ratio = ours/C)', 'MB/s');
  for (const ranks of [2, 4]) vsC('allreduce', ranks, `float32 allreduce, ${ranks} ranks (lower is better)`, 'us');
  for (const ranks of [2, 4]) {
    vsC('mbw_mr', ranks, `Message rate (osu_mbw_mr): ${ranks / 2} pair(s), windows of 64 (higher is better; ratio = ours/C)`, 'msg/s');
  }
  for (const [b, what] of [['put', 'MPI_Put'], ['get', 'MPI_Get'], ['acc', 'MPI_Accumulate (float32 sum)']]) {
    vsC(`${b}_latency`, 2, `One-sided ${what} + MPI_Win_flush under a shared lock, 2 ranks (lower is better)`, 'us');
  }
  if (res.impls('channel', 2).length) {
    const sizes = res.sizes('channel', 2);
    out.push({
      title: 'Typed channel: half round trip, 2 ranks, vs a raw send of the same bytes (lower is better)',
      bench: 'channel', ranks: 2, unit: 'us', sizes,
      columns: [
        { label: 'raw blocking', impl: 'mpi4node-blocking', bench: 'latency' },
        { label: LABELS['mpi4node-channel']!, impl: 'mpi4node-channel', ref: { bench: 'latency', impl: 'mpi4node-blocking' } },
        { label: 'raw Promise', impl: 'mpi4node-promise', bench: 'latency' },
        { label: LABELS['mpi4node-channel-promise']!, impl: 'mpi4node-channel-promise', ref: { bench: 'latency', impl: 'mpi4node-promise' } },
      ],
    });
  }
  return out;
}

export function fmtSize(n: number): string {
  if (n >= 1 << 20 && n % (1 << 20) === 0) return `${n >> 20} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n >> 10} KiB`;
  return `${n} B`;
}

export function fmtNum(v: number): string {
  if (!Number.isFinite(v)) return '-';
  if (v >= 1000) return v.toFixed(0);
  if (v >= 100) return v.toFixed(1);
  if (v >= 10) return v.toFixed(2);
  return v.toFixed(3);
}

function cell(res: Results, s: Section, col: Column, size: number): string {
  const sel: Sel = { bench: col.bench ?? s.bench, impl: col.impl, ranks: s.ranks, size };
  const m = res.summary(sel);
  if (!m) return '-';
  if (!col.ref) return fmtNum(m.median);
  const r = res.ratio(sel, { ...col.ref, ranks: s.ranks, size });
  return r ? `${fmtNum(m.median)} (${r.median.toFixed(2)}x)` : fmtNum(m.median);
}

function grid(res: Results, s: Section): string[][] {
  const head = ['size', ...s.columns.map((c) => `${c.label} [${s.unit}]`)];
  return [head, ...s.sizes.map((size) => [fmtSize(size), ...s.columns.map((c) => cell(res, s, c, size))])];
}

function pages(res: Results, s: Section): string {
  const seen = new Set<string>();
  for (const c of s.columns) {
    for (const size of s.sizes) {
      const m = res.summary({ bench: c.bench ?? s.bench, impl: c.impl, ranks: s.ranks, size });
      if (m) seen.add(`${c.label}: ${m.pages}`);
    }
  }
  return [...seen].join(', ');
}

export function renderText(res: Results, judged: Judged[]): string {
  const out: string[] = [];
  for (const s of sections(res)) {
    const g = grid(res, s);
    const w = g[0]!.map((_, i) => Math.max(...g.map((row) => row[i]!.length)));
    out.push(s.title, ...g.map((row) => row.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ')));
    out.push(`  pages: ${pages(res, s)}`, '');
  }
  out.push('* huge pages: C with --hugepages (madvise), shown for reference only, never a ratio\'s reference.', '');
  out.push('Targets (median of same-repetition ratios)');
  const rows = [['target', 'ours', 'mpi4py', 'status'], ...judged.map((j) => [
    `${j.what} ${j.target}`, j.ratio === null ? '-' : `${j.ratio.toFixed(2)}x`, j.mpi4py === null ? '-' : `${j.mpi4py.toFixed(2)}x`, j.status,
  ])];
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  out.push(...rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ')));
  const vs = renderVersus(versusMpi4py(res), fmtSize, false);
  if (vs.length) out.push('', ...vs);
  return out.join('\n');
}

export function renderMarkdown(res: Results, judged: Judged[]): string {
  const out: string[] = [];
  const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
  for (const s of sections(res)) {
    const g = grid(res, s);
    out.push(`**${s.title}**`, '', row(g[0]!), row(g[0]!.map((_, i) => (i === 0 ? ':--' : '--:'))), ...g.slice(1).map(row));
    out.push('', `Pages: ${pages(res, s)}.`, '');
  }
  out.push('\\* C with `--hugepages` (madvise), for reference only: never a ratio\'s reference.', '');
  out.push('**Targets** (median of same-repetition ratios; mpi4py\'s ratio for the same measurement beside ours)', '');
  out.push(row(['target', 'limit', 'ours', 'mpi4py', 'status']), row([':--', '--:', '--:', '--:', ':-:']));
  for (const j of judged) {
    out.push(row([j.what, j.target, j.ratio === null ? '-' : `${j.ratio.toFixed(2)}x`, j.mpi4py === null ? '-' : `${j.mpi4py.toFixed(2)}x`, j.status]));
  }
  const vs = renderVersus(versusMpi4py(res), fmtSize, true);
  if (vs.length) out.push('', ...vs);
  return out.join('\n') + '\n';
}
