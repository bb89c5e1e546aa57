// Writes a run's files: results.json (everything, raw lines included), table.md and the charts; with
// `publish`, also the table, the charts and the machine's description under docs/bench/ (bench/results/
// is not committed, docs/benchmarks.md shows those).
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { renderCharts } from './charts.js';
import { describeMachine, type Machine } from './machine.js';
import { memoryMarkdown } from './memory.js';
import { BENCH_DIR } from './plan.js';
import { isReference, refOf, type Results } from './stats.js';
import { renderMarkdown } from './table.js';
import type { Judged } from './targets.js';
import { versusMpi4py } from './versus.js';

export interface Report {
  out: string;
  publish: boolean;
  quick: boolean;
  reps: number;
  threadLevel: string;
  machine: Machine;
  load: { start: number; end: number };
  notes: string[];
  skipped: string[];
  failures: string[];
  totalSeconds: number;
  res: Results;
  judged: Judged[];
  memory: Record<string, unknown>[];
  runs: Record<string, unknown>[];
  /** --wait-idle: how long each benchmark waited for an idle machine. */
  waits: { rep: number; group: string; waitedS: number; idle: boolean }[];
}

/** Writes the files; returns their paths. */
export function writeReport(r: Report): string[] {
  const { res } = r;
  mkdirSync(r.out, { recursive: true });
  const ratios = res.summaries().filter((s) => !isReference(s.impl)).map((s) => {
    const ref = refOf(s.bench, s.impl);
    const x = res.ratio(s, { ...ref, ranks: s.ranks, size: s.size });
    return { bench: s.bench, impl: s.impl, ranks: s.ranks, size: s.size, ref: `${ref.bench}/${ref.impl}`, median: x?.median ?? null, perRep: x?.perRep ?? [] };
  });
  const date = new Date().toISOString();
  const json = {
    date, quick: r.quick, reps: r.reps, threadLevel: r.threadLevel, machine: r.machine, loadAverage: r.load,
    pages: `normal on every side (THP ${r.machine.thp}); c-hugepages rows use --hugepages and are never a ratio's reference; the Promise allreduce is compared with C's MPI_Iallreduce + MPI_Wait (c-nonblocking)`,
    jitWarmup: 'mpi4node programs raise the warm-up of messages <= 8 KiB for the JIT (latency 20000 iterations, bw 500 windows, ' +
      "allreduce and channel 10000); C and mpi4py use OSU's",
    notes: r.notes, skipped: r.skipped, failures: r.failures, totalSeconds: r.totalSeconds, idleWaits: r.waits,
    summaries: res.summaries(), ratios, targets: r.judged, versusMpi4py: versusMpi4py(res), memory: r.memory, records: res.recs, runs: r.runs,
  };
  const files: Record<string, string> = {
    'results.json': JSON.stringify(json, null, 1) + '\n',
    'table.md': renderMarkdown(res, r.judged) + (r.memory.length ? `\n${memoryMarkdown(r.memory)}` : ''),
    ...renderCharts(res),
  };
  const written: string[] = [];
  for (const [name, text] of Object.entries(files)) {
    writeFileSync(path.join(r.out, name), text);
    written.push(path.join(r.out, name));
  }
  if (r.publish) {
    const docs = path.join(BENCH_DIR, '..', 'docs', 'bench');
    mkdirSync(docs, { recursive: true });
    for (const name of Object.keys(files).filter((f) => f !== 'results.json')) {
      copyFileSync(path.join(r.out, name), path.join(docs, name));
      written.push(path.join(docs, name));
    }
    const about = [
      ...describeMachine(r.machine).split('\n'),
      `${r.reps} repetitions on ${date.slice(0, 10)}, ${r.totalSeconds.toFixed(0)} s in all; load average ${r.load.start.toFixed(1)} ` +
        `at the start, ${r.load.end.toFixed(1)} at the end`,
    ];
    writeFileSync(path.join(docs, 'machine.md'), about.map((l) => `- ${l}`).join('\n') + '\n');
    written.push(path.join(docs, 'machine.md'));
  }
  return written;
}
