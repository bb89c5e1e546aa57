// npm run bench: OSU-method benchmarks of C (the reference), mpi4node (blocking and Promise calls,
// typed channels, allreduce) and mpi4py (when installed), in one run.
//
//   node --import tsx bench/run.ts [--quick] [--reps N] [--out DIR] [--only latency,bw,...] [--no-memory] [--publish]
//                                  [--thread-level single|funneled|serialized|multiple] [--wait-idle]
//
// Every repetition runs every variant once, one mpirun each, the variants of one benchmark back to back
// in alternating order (A B C, then C B A, ...) so that the machine's drift falls on all of them alike.
// Reported: medians over repetitions, and each figure's ratio to C from the same repetition (median of
// the per-repetition ratios). Writes results.json, table.md, latency.svg, bandwidth.svg and
// allreduce.svg to --out (default bench/results/). --quick: one repetition, two sizes, a few
// iterations: every code path in seconds (the test suite runs it; it never judges speed). --publish
// also copies the table, the charts and the machine's description to docs/bench/ (bench/results/ is
// not committed; docs/benchmarks.md shows what docs/bench/ holds). --wait-idle: each benchmark's
// variants start only once the machine has been idle for 3 s (for shared machines; harness/idle.ts).
import os from 'node:os';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { libraryVersion } from '../lib/index.js';
import { buildNative } from './native/build.mjs';
import { detectMpi } from '../lib/cli/launcher.js';
import { findMpi4pyPython } from './py/find_python.mjs';
import { runJob, type Command } from './harness/exec.js';
import { describeMachine, machine, thpMode } from './harness/machine.js';
import { compileBenchPrograms } from './harness/compile.js';
import { BENCH_DIR, buildPlan, memoryCommand, type Group, type Variant } from './harness/plan.js';
import { Results, type Rec } from './harness/stats.js';
import { writeReport } from './harness/report.js';
import { renderText } from './harness/table.js';
import { judge } from './harness/targets.js';
import { waitIdle } from './harness/idle.js';
import { memoryText } from './harness/memory.js';

interface Options {
  quick: boolean;
  reps: number;
  out: string;
  only: string[] | null;
  memory: boolean;
  publish: boolean;
  threadLevel: string;
  waitIdle: boolean;
}

function usage(message?: string): never {
  if (message) console.error(`bench: ${message}`);
  console.error('usage: node --import tsx bench/run.ts [--quick] [--reps N] [--out DIR] [--only latency,channel,bw,allreduce,message,rma,averager] [--no-memory] [--publish] [--thread-level L] [--wait-idle]');
  process.exit(2);
}

function parseArgs(argv: string[]): Options {
  // Funneled: mpi4node's default, and C and mpi4py are asked for the same. Open MPI 4.1 takes a mutex in
  // every send and receive above single (~75 ns a send+recv pair here), so the level matters.
  const o: Options = {
    quick: false, reps: 0, out: path.join(BENCH_DIR, 'results'), only: null, memory: true, publish: false, threadLevel: 'single',
    waitIdle: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i] ?? usage(`${flag} needs a value`);
    if (flag === '--quick') o.quick = true;
    else if (flag === '--no-memory') o.memory = false;
    else if (flag === '--publish') o.publish = true;
    else if (flag === '--wait-idle') o.waitIdle = true;
    else if (flag === '--reps') {
      o.reps = Number(value());
      if (!Number.isInteger(o.reps) || o.reps < 1) usage('--reps needs a positive integer');
    } else if (flag === '--out') o.out = path.resolve(value());
    else if (flag === '--only') o.only = value().split(',');
    else if (flag === '--thread-level') {
      o.threadLevel = value();
      if (!['single', 'funneled', 'serialized', 'multiple'].includes(o.threadLevel)) usage('--thread-level: single|funneled|serialized|multiple');
    }
    else if (flag === '-h' || flag === '--help') usage();
    else usage(`unknown option ${argv[i]}`);
  }
  if (o.reps === 0) o.reps = o.quick ? 1 : 5;
  return o;
}

async function main(): Promise<number> {
  const t0 = performance.now();
  const o = parseArgs(process.argv.slice(2));
  const log = (s: string) => process.stdout.write(s);

  const mpicc = detectMpi().mpicc;
  log(`building the C reference with ${mpicc} ... `);
  // One folder per MPI family: the programs must link the MPI the ranks will run with.
  const native = await buildNative({ mpicc, outDir: path.join(BENCH_DIR, 'native', 'bin', detectMpi().flavour) });
  log('done\ncompiling the Node programs against dist/ ... ');
  await compileBenchPrograms();
  log('done\n');

  const mpiLibrary = libraryVersion().replace(/\0/g, '').trim();
  const notes: string[] = [];
  // mpi4py runs under the addon's mpirun, so it must be built for the same MPI family (Debian's
  // python3-mpi4py is Open MPI's: under MPICH its column is skipped, not a failure).
  const family = (lib: string) => (/Open MPI/.test(lib) ? 'Open MPI' : /MPICH/.test(lib) ? 'MPICH' : lib.split(',')[0]);
  let py = await findMpi4pyPython();
  if (!py) {
    notes.push("mpi4py column skipped: no python3 that imports mpi4py (Debian: apt-get install python3-mpi4py, or set MPI4NODE_PYTHON)");
  } else if (family(py.mpiLibrary) !== family(mpiLibrary)) {
    notes.push(`mpi4py column skipped: ${py.python}'s mpi4py uses ${family(py.mpiLibrary)}, the addon ${family(mpiLibrary)} (set MPI4NODE_PYTHON to a python whose mpi4py uses ${family(mpiLibrary)})`);
    py = null;
  } else if (py.mpiLibrary.split(',')[0] !== mpiLibrary.split(',')[0]) {
    notes.push(`warning: mpi4py uses ${py.mpiLibrary.split(',')[0]} but the addon uses ${mpiLibrary.split(',')[0]}: the mpi4py column is another version`);
  }
  const m = machine(mpiLibrary, py ? `mpi4py ${py.mpi4py} (Python ${py.version}, ${py.python})` : null);
  // Other work on a 2-core machine distorts every figure, busy-polling ranks above all: say how busy it was.
  const loadStart = os.loadavg()[0]!;
  log(`${describeMachine(m)}\nthread level: ${o.threadLevel} on every side; pages: normal (4 KiB) on every side (THP ${thpMode()}), ` +
    `plus a C --hugepages row for reference\n`);
  for (const n of notes) log(`${n}\n`);

  let plan = buildPlan({ quick: o.quick, native, python: py?.python ?? null, threadLevel: o.threadLevel });
  if (o.only) plan = plan.filter((g) => o.only!.some((name) => g.name.startsWith(name)));

  const res = new Results();
  const runs: Record<string, unknown>[] = [];
  const failures: string[] = [];
  const skipped = new Set<string>();
  const timeoutS = o.quick ? 120 : 300;

  const runVariant = async (rep: number, g: Group, v: Variant) => {
    const label = `[rep ${rep}/${o.reps}] ${v.bench} ${v.impl} (${v.ranks} ranks)`;
    log(`${label} ... `);
    const r = await runJob(v.cmd, timeoutS);
    runs.push({ rep, group: g.name, bench: v.bench, impl: v.impl, ranks: v.ranks, seconds: r.seconds, error: r.error ?? null, lines: r.lines });
    const bad = r.lines.filter((l) => !(typeof l.value === 'number' && Number.isFinite(l.value) && l.value > 0));
    if (r.error || bad.length || (!r.lines.length && !v.optional)) {
      const why = r.error ?? (bad.length ? `bad value in ${JSON.stringify(bad[0])}` : 'no results');
      failures.push(`${label}: ${why}`);
      log(`FAILED (${why}) ${r.seconds.toFixed(1)}s\n${indent(r.stderr.trim().split('\n').slice(-15).join('\n'))}\n`);
      return;
    }
    if (!r.lines.length) {
      skipped.add(`${v.bench} ${v.impl}: ${r.stderr.trim().split('\n').pop() ?? 'not available in this build'}`);
      log(`skipped (${r.stderr.trim().split('\n').pop()})\n`);
      return;
    }
    for (const l of r.lines) res.add(toRec(rep, v, l));
    log(`done ${r.seconds.toFixed(1)}s\n`);
  };

  const waits: { rep: number; group: string; waitedS: number; idle: boolean }[] = [];
  for (let rep = 1; rep <= o.reps; rep++) {
    for (const g of plan) {
      if (o.waitIdle) {
        log(`[rep ${rep}/${o.reps}] waiting for an idle machine ... `);
        const w = await waitIdle();
        waits.push({ rep, group: g.name, waitedS: w.waitedS, idle: w.idle });
        log(w.idle ? `${w.waitedS.toFixed(0)}s\n` : `gave up after ${w.waitedS.toFixed(0)}s (${w.busy.toFixed(0)}% busy)\n`);
      }
      const order = rep % 2 ? g.variants : [...g.variants].reverse();
      for (const v of order) await runVariant(rep, g, v);
    }
  }

  let memory: Record<string, unknown>[] = [];
  if (o.memory) {
    log(`memory: ${o.quick ? '64 MiB send, 10^4 round trips' : '1 GiB send, 10^6 round trips'} ... `);
    const r = await runJob(memoryCommand(o.quick), timeoutS);
    memory = r.lines;
    if (r.error || !r.lines.length) {
      failures.push(`memory: ${r.error ?? 'no results'}`);
      log(`FAILED (${r.error ?? 'no results'})\n${indent(r.stderr.trim().split('\n').slice(-15).join('\n'))}\n`);
    } else log(`done ${r.seconds.toFixed(1)}s\n`);
  }

  const judged = judge(res);
  const text = renderText(res, judged);
  log(`\n${text}\n`);
  if (memory.length) log(`\n${memoryText(memory)}\n`);
  for (const s of skipped) log(`skipped: ${s}\n`);

  const totalSeconds = (performance.now() - t0) / 1000;
  const load = { start: loadStart, end: os.loadavg()[0]! };
  const written = writeReport({
    out: o.out, publish: o.publish, quick: o.quick, reps: o.reps, threadLevel: o.threadLevel, machine: m, load, notes,
    skipped: [...skipped], failures, totalSeconds, res, judged, memory, runs, waits,
  });
  log(`\nwrote ${written.map((f) => path.relative(process.cwd(), f)).join(', ')}\n`);
  log(`load average (1 min) ${load.start.toFixed(1)} at the start, ${load.end.toFixed(1)} at the end` +
    `${Math.max(load.start, load.end) > 2.5 ? ': other work was running, the figures are noisier than usual' : ''}\n`);
  const waited = waits.reduce((a, w) => a + w.waitedS, 0);
  log(`total ${totalSeconds.toFixed(0)}s${waited > 0 ? ` (${waited.toFixed(0)}s of it waiting for an idle machine)` : ''}${failures.length ? `; ${failures.length} job(s) failed:\n${failures.map((f) => `  ${f}`).join('\n')}` : ''}\n`);
  // The gradient averager (bench/averager.ts, issue 14): its own mpirun per rank count, its own targets.
  let averagerFailed = false;
  if (!o.quick && (o.only === null || o.only.includes('averager'))) {
    log('\ngradient averager (bench/averager.ts):\n');
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(BENCH_DIR, 'averager.ts'), '--ranks', '2,4'], { stdio: 'inherit' });
    averagerFailed = r.status !== 0;
  }
  return failures.length || averagerFailed ? 1 : 0;
}

function toRec(rep: number, v: Variant, l: Record<string, unknown>): Rec {
  return {
    rep, bench: String(l.bench), impl: v.impl, ranks: Number(l.ranks ?? v.ranks), size: Number(l.size), value: Number(l.value),
    unit: String(l.unit), pages: String(l.pages ?? 'unknown'), thread: String(l.thread ?? ''), iters: Number(l.iters), warmup: Number(l.warmup),
  };
}

function indent(s: string): string {
  return s.split('\n').map((l) => `    ${l}`).join('\n');
}

process.exitCode = await main();
