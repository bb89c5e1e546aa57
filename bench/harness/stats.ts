// Medians and same-repetition ratios. Absolute times on this kind of machine drift by 2x between minutes
// (it flips between a fast and a slow mode), so a ratio is only computed between two figures of the
// same repetition, and the median of those per-repetition ratios is what is reported.

export interface Rec {
  rep: number;
  bench: string;
  impl: string;
  ranks: number;
  size: number;
  value: number;
  unit: string;
  pages: string;
  thread: string;
  iters: number;
  warmup: number;
}

export interface Sel {
  bench: string;
  impl: string;
  ranks: number;
  size: number;
}

export interface Summary extends Sel {
  median: number;
  min: number;
  max: number;
  n: number;
  unit: string;
  pages: string;
  thread: string;
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export const keyOf = (s: Sel) => `${s.bench}|${s.impl}|${s.ranks}|${s.size}`;

export class Results {
  readonly recs: Rec[] = [];
  #byKey = new Map<string, Rec[]>();

  add(r: Rec): void {
    this.recs.push(r);
    const k = keyOf(r);
    const list = this.#byKey.get(k);
    if (list) list.push(r);
    else this.#byKey.set(k, [r]);
  }

  /** Median over repetitions of one (bench, impl, ranks, size); undefined when never measured. */
  summary(s: Sel): Summary | undefined {
    const list = this.#byKey.get(keyOf(s));
    if (!list?.length) return undefined;
    const v = list.map((r) => r.value);
    const pages = [...new Set(list.map((r) => r.pages))].join('/');
    return {
      ...s, median: median(v), min: Math.min(...v), max: Math.max(...v), n: v.length, unit: list[0]!.unit, pages,
      thread: list[0]!.thread,
    };
  }

  summaries(): Summary[] {
    return [...this.#byKey.values()].map((l) => this.summary(l[0]!)!);
  }

  /**
   * Median over repetitions of num/den, each pair from the same repetition (`invert`: den/num, e.g.
   * throughput from times). undefined when no repetition has both.
   */
  ratio(num: Sel, den: Sel, invert = false): { median: number; perRep: number[] } | undefined {
    const a = this.#byKey.get(keyOf(num)), b = this.#byKey.get(keyOf(den));
    if (!a || !b) return undefined;
    const perRep: number[] = [];
    for (const x of a) {
      const y = b.find((r) => r.rep === x.rep);
      if (y && x.value > 0 && y.value > 0) perRep.push(invert ? y.value / x.value : x.value / y.value);
    }
    return perRep.length ? { median: median(perRep), perRep } : undefined;
  }

  impls(bench: string, ranks: number): string[] {
    return [...new Set(this.recs.filter((r) => r.bench === bench && r.ranks === ranks).map((r) => r.impl))];
  }

  sizes(bench: string, ranks: number): number[] {
    return [...new Set(this.recs.filter((r) => r.bench === bench && r.ranks === ranks).map((r) => r.size))].sort((x, y) => x - y);
  }
}

/**
 * The reference of a figure's ratio: C; for the Promise allreduce, C's MPI_Iallreduce + MPI_Wait (the
 * call it is built on, as OSU's osu_iallreduce measures it); for channels, the raw send of the same form.
 */
export function refOf(bench: string, impl: string): { bench: string; impl: string } {
  if (bench === 'channel') return { bench: 'latency', impl: impl === 'mpi4node-channel' ? 'mpi4node-blocking' : 'mpi4node-promise' };
  if (bench === 'allreduce' && impl === 'mpi4node-promise') return { bench, impl: 'c-nonblocking' };
  // Persistent windows against C's persistent window (MPI_Send_init/MPI_Recv_init + MPI_Startall).
  if (impl.endsWith('-persistent')) return { bench, impl: 'c-persistent' };
  return { bench, impl: 'c' };
}

/** C programs are references, never a ratio of their own. */
export const isReference = (impl: string) => impl === 'c' || impl === 'c-hugepages' || impl === 'c-nonblocking' || impl === 'c-persistent';
