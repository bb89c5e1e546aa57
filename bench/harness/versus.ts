// mpi4node against mpi4py, row by row, where both make the same MPI calls. Both bindings' medians
// move with the machine's state from one repetition to the next, so one 5-repetition median behind
// the other says little: each repetition's pair (run back to back) gives one comparison, and a row is
// called behind only when ours lost in more repetitions than chance explains (a one-sided sign test,
// p < 0.05, not corrected for the number of rows: strict with us, a few rows may be flagged by chance).
import { median, type Results, type Sel } from './stats.js';

/** Our variant and mpi4py's doing the same calls; Promise forms have no mpi4py counterpart. */
const PAIRS: readonly [ours: string, theirs: string][] = [
  ['mpi4node-blocking', 'mpi4py'],
  ['mpi4node-persistent', 'mpi4py-persistent'],
];

export interface Versus {
  bench: string;
  ranks: number;
  size: number;
  ours: string;
  theirs: string;
  /** Median over repetitions of ours' cost over mpi4py's (time / time, or rate / rate inverted): > 1 is behind. */
  slowdown: number;
  /** Repetitions where ours was behind, of those with both. */
  behindIn: number;
  n: number;
  /** P(behind in >= behindIn of n repetitions) were each a coin toss. */
  p: number;
  verdict: 'ahead' | 'behind, within chance' | 'behind';
}

/** Higher is better for these units; for times lower is. */
const isRate = (unit: string) => unit === 'MB/s' || unit === 'msg/s';

/** One-sided sign test: the probability of k or more heads in n fair tosses. */
export function signTestP(k: number, n: number): number {
  let c = 1, sum = 0; // c = C(n, j), built up from j = 0
  for (let j = 0; j <= n; j++) {
    if (j >= k) sum += c;
    c = (c * (n - j)) / (j + 1);
  }
  return sum / 2 ** n;
}

export function versusMpi4py(res: Results): Versus[] {
  const out: Versus[] = [];
  for (const s of res.summaries()) {
    const pair = PAIRS.find(([o]) => o === s.impl);
    if (!pair) continue;
    const theirs: Sel = { bench: s.bench, impl: pair[1], ranks: s.ranks, size: s.size };
    const unit = res.summary(theirs)?.unit;
    if (unit === undefined) continue;
    // ours / theirs for times, theirs / ours for rates: > 1 means ours cost more.
    const r = res.ratio(s, theirs, isRate(unit));
    if (!r) continue;
    const behindIn = r.perRep.filter((x) => x > 1).length, n = r.perRep.length;
    const slowdown = median(r.perRep), p = signTestP(behindIn, n);
    out.push({
      bench: s.bench, ranks: s.ranks, size: s.size, ours: s.impl, theirs: pair[1], slowdown, behindIn, n, p,
      verdict: slowdown <= 1 ? 'ahead' : p < 0.05 ? 'behind' : 'behind, within chance',
    });
  }
  return out.sort((a, b) => a.bench.localeCompare(b.bench) || a.ranks - b.ranks || a.ours.localeCompare(b.ours) || a.size - b.size);
}

/** The summary line and one line per row behind by its median (Markdown when `md`). */
export function renderVersus(vs: Versus[], fmtSize: (n: number) => string, md: boolean): string[] {
  if (vs.length === 0) return [];
  const behind = vs.filter((v) => v.verdict !== 'ahead');
  const sure = behind.filter((v) => v.verdict === 'behind');
  const head = `${md ? '**Against mpi4py**' : 'Against mpi4py'} (the same calls: blocking against mpi4py's, persistent against mpi4py's; ` +
    `per repetition, back to back): ${vs.length} rows, ${vs.length - behind.length} ahead, ${behind.length} behind by the median ` +
    `of which ${sure.length} in more repetitions than chance explains (sign test, p < 0.05)`;
  const rows = behind.map((v) => {
    const cells = [`${v.bench}, ${v.ranks} ranks, ${fmtSize(v.size)}`, v.ours.replace('mpi4node-', ''), `${v.slowdown.toFixed(2)}x`,
      `${v.behindIn} of ${v.n}`, v.p.toFixed(3), v.verdict];
    return md ? `| ${cells.join(' | ')} |` : `  ${cells.join('  ')}`;
  });
  if (!md) return [head, ...rows];
  return [head, '', '| row | ours | our cost / mpi4py\'s | behind in | p | verdict |', '| :-- | :-- | --: | --: | --: | :-- |', ...rows];
}
