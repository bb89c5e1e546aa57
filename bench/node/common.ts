// What the mpi4node OSU-style programs share with bench/native/osu_common.h: the same options, the same
// iteration schedule and the same JSON-lines output, so bench/run.ts reads C, Python and Node alike.
//
//   --sizes LIST  --iters-scale F  --iters N  --warmup N  --thread-level L  --mode blocking|promise
//   --op NAME (programs that measure several operations, e.g. osu_rma's put|get|acc)
//
// One difference, on purpose: a warm-up below `jitWarmup` iterations (messages <= 8 KiB) is raised to
// it (latency 20 000, bandwidth and message rate 3 000 windows, allreduce 10 000, channels 40 000). OSU's 100
// warm-up iterations are steady state for C; V8 needs thousands of calls to optimise the library's
// functions, and compiles them on helper threads that mpirun binds to the rank's own core, where they
// preempt the busy-polling rank for whole scheduler slices until compilation settles (measured: with
// 2 000, the first size's average was 2-10x its steady state; 8 B message rate after 500 windows
// 0.57-0.76 M msg/s, after 3 000 2.9-3.8 M; an 8 B channel round trip's half 1.55-1.9 us after
// 10 000, 0.97-1.0 us after 40 000). Messages above 8 KiB get a floor too (`largeJitWarmup`: latency and
// one-sided 5 000, allreduce 1 000, windows 100): they take the library's general path (arrays over
// 64 KiB are not registered), whose first use deoptimises the functions the small sizes optimised, and
// OSU's 10 iterations then timed unoptimised code until V8 re-optimised it (measured: 256 KiB half
// round trip 18.4-21.1 us after the 8 B size, 14.1-15.1 us alone; 14.7 us after 8 B with 20 000
// iterations, the re-optimisation showing in --trace-opt). The emitted "warmup" is the count actually run.
import { readFileSync } from 'node:fs';
import { alignedArray, type Comm, type ThreadLevel, wtime } from '../../lib/index.js';

export interface BenchSpec {
  name: string;
  /** Default size range (powers of two from dmin to dmax) and the multiple every size must be. */
  dmin: number;
  dmax: number;
  multiple: number;
  smallIters: number;
  smallWarmup: number;
  largeIters: number;
  largeWarmup: number;
  /** Minimum warm-up for sizes ≤ LARGE (see above). */
  jitWarmup: number;
  /** Minimum warm-up for larger sizes (see above): fewer iterations, each one longer. */
  largeJitWarmup: number;
  /** The operations --op may name (the first is the default); none: --op is refused. */
  ops?: string[];
}

// persistent: a window of persistent requests (sendInit/recvInit once per size, startAll every iteration);
// only the window benchmarks have it.
export type Mode = 'blocking' | 'promise' | 'persistent';

export interface Options {
  sizes: number[];
  itersScale: number;
  iters?: number;
  warmup?: number;
  threadLevel: ThreadLevel;
  mode: Mode;
  op: string;
}

const LARGE = 8192;
const MAX_BYTES = 2 ** 30;
const LEVELS: ThreadLevel[] = ['single', 'funneled', 'serialized', 'multiple'];

function rank(): number {
  return Number(process.env.OMPI_COMM_WORLD_RANK ?? process.env.PMI_RANK ?? 0);
}

/** Prints the problem (rank 0 only) and exits with status 2, like the C programs. */
export function fail(spec: BenchSpec, message: string): never {
  if (rank() === 0) {
    process.stderr.write(`${spec.name}: ${message}\n`);
    process.stderr.write(
      `usage: mpirun -n N node --import tsx bench/node/${spec.name}.ts [--sizes N,N,...] [--iters-scale F] [--iters N]\n` +
        '         [--warmup N] [--thread-level single|funneled|serialized|multiple] [--mode blocking|promise|persistent]\n',
    );
  }
  process.exit(2);
}

function integer(spec: BenchSpec, flag: string, v: string, lo: number, hi: number): number {
  if (!/^\d+$/.test(v) || Number(v) < lo || Number(v) > hi) fail(spec, `${flag}: '${v}' is not an integer in [${lo}, ${hi}]`);
  return Number(v);
}

export function parseOptions(spec: BenchSpec, argv = process.argv.slice(2)): Options {
  const o: Options = { sizes: [], itersScale: 1, threadLevel: 'single', mode: 'blocking', op: spec.ops?.[0] ?? '' };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    if (flag === '--hugepages') {
      // V8 allocates ArrayBuffers with plain mmap/malloc; nothing in JavaScript can madvise them.
      fail(spec, '--hugepages is not available from JavaScript (V8 allocates ArrayBuffers); compare with the C programs without it');
    }
    if (flag === '-h' || flag === '--help') fail(spec, 'help');
    const value = inline ?? argv[++i];
    if (value === undefined) fail(spec, `${flag} needs a value`);
    switch (flag) {
      case '--sizes':
        o.sizes = value.split(',').map((s) => integer(spec, '--sizes', s, 0, MAX_BYTES));
        if (o.sizes.some((s) => s % spec.multiple)) fail(spec, `--sizes: every size must be a multiple of ${spec.multiple}`);
        break;
      case '--iters-scale':
        o.itersScale = Number(value);
        if (!(o.itersScale > 0 && o.itersScale <= 1000)) fail(spec, `--iters-scale: '${value}' is not a number in (0, 1000]`);
        break;
      case '--iters':
        o.iters = integer(spec, flag, value, 1, 1e8);
        break;
      case '--warmup':
        o.warmup = integer(spec, flag, value, 0, 1e8);
        break;
      case '--thread-level':
        if (!LEVELS.includes(value as ThreadLevel)) fail(spec, `--thread-level: '${value}' is not ${LEVELS.join('|')}`);
        o.threadLevel = value as ThreadLevel;
        break;
      case '--mode':
        if (value !== 'blocking' && value !== 'promise' && value !== 'persistent') {
          fail(spec, `--mode: '${value}' is not blocking|promise|persistent`);
        }
        o.mode = value;
        break;
      case '--op':
        if (!spec.ops?.includes(value)) fail(spec, spec.ops ? `--op: '${value}' is not ${spec.ops.join('|')}` : 'takes no --op');
        o.op = value;
        break;
      default:
        fail(spec, `unknown argument '${argv[i]}'`);
    }
  }
  if (o.sizes.length === 0) {
    for (let s = spec.dmin; s <= spec.dmax; s = s ? s * 2 : 1) o.sizes.push(s);
  }
  return o;
}

/** OSU's schedule (osu_common.h osu_iters), with the JIT floor on small-message warm-up. */
export function itersFor(spec: BenchSpec, o: Options, size: number): { iters: number; warmup: number } {
  const large = size > LARGE;
  const scaled = (n: number) => Math.max(1, Math.round(n * o.itersScale));
  const iters = o.iters ?? scaled(large ? spec.largeIters : spec.smallIters);
  let warmup = o.warmup ?? scaled(large ? spec.largeWarmup : spec.smallWarmup);
  if (o.warmup === undefined) warmup = Math.max(warmup, large ? spec.largeJitWarmup : spec.jitWarmup);
  return { iters, warmup };
}

/**
 * "normal" when this process has no transparent huge pages at all (then no buffer can have any),
 * else "mixed": JavaScript cannot see a typed array's address to look its mapping up, so any huge
 * page in the process makes the answer uncertain. Collective over `comm` (point-to-point only).
 */
export function pagesOf(comm: Comm): 'normal' | 'mixed' {
  return exchangeOr(comm, hugeKb() > 0) ? 'mixed' : 'normal';
}

function hugeKb(): number {
  let kb = 0;
  try {
    kb = Number(/AnonHugePages:\s+(\d+)/.exec(readFileSync('/proc/self/smaps_rollup', 'utf8'))?.[1] ?? 0);
  } catch {}
  return kb;
}

// OR of a flag over all ranks with point-to-point messages only (collectives may not exist yet).
function exchangeOr(comm: Comm, mine: boolean): boolean {
  const flag = new Int32Array([mine ? 1 : 0]);
  if (comm.rank !== 0) {
    comm.send(flag, 0, 9);
    comm.recv(flag, 0, 9);
    return flag[0] !== 0;
  }
  const other = new Int32Array(1);
  for (let r = 1; r < comm.size; r++) {
    comm.recv(other, r, 9);
    flag[0] |= other[0]!;
  }
  for (let r = 1; r < comm.size; r++) comm.send(flag, r, 9);
  return flag[0] !== 0;
}

/**
 * Brings V8 to steady state before anything is timed: `warm` runs the hot loop untimed (so V8 compiles
 * it), then the rank idles 300 ms, so that the compiler and the garbage collector's helper threads,
 * which mpirun binds to this rank's core, finish their work now instead of preempting a timed,
 * busy-polling loop (measured: without this the first size's average was ~2x its steady state).
 */
export async function settle(comm: Comm, warm: () => unknown): Promise<void> {
  await warm();
  await new Promise((resolve) => setTimeout(resolve, 300));
  sync(comm);
}

/**
 * Seconds that `iters` rounds take after `warmup` untimed ones (`ready` runs between them), by calls of
 * one loop, as OSU's skip-then-time loop would be in C: a switch to timing inside a loop the JIT has
 * already optimised is a call site it never saw, and reaching it deoptimises the loop for the rounds
 * that are timed (V8's "Insufficient type feedback for call"; osu_mbw_mr at 8 B ran ~5x slower so).
 */
export async function timeRounds(rounds: (n: number) => unknown, iters: number, warmup: number, ready?: () => void,
  now: () => number = wtime): Promise<number> {
  // The warm-up as ~100 calls, not one: V8 then optimises the function itself and the timed call starts
  // in optimised code. After one long call only its loop is optimised (on-stack replacement), and a new
  // call begins unoptimised again: measured, 8 B latency 0.74-0.86 us instead of 0.48-0.61 us.
  const chunk = Math.max(1, Math.ceil(warmup / 100));
  for (let done = 0; done < warmup; done += chunk) await rounds(Math.min(chunk, warmup - done));
  ready?.();
  const t0 = now();
  await rounds(iters);
  return now() - t0;
}

/** Untimed iterations for `settle`: the JIT warm-up, or the explicit --warmup. */
export function settleIters(spec: BenchSpec, o: Options): number {
  return o.warmup ?? spec.jitWarmup;
}

/** MPI_Barrier where the library has it, else the same synchronisation by messages. */
export function sync(comm: Comm): void {
  if (typeof (comm as { barrier?: unknown }).barrier === 'function') comm.barrier();
  else exchangeOr(comm, false);
}

export interface Line {
  bench: string;
  impl: string;
  size: number;
  iters: number;
  warmup: number;
  value: number;
  unit: string;
  pages: string;
  ranks: number;
  thread: string;
  [extra: string]: unknown;
}

/** One result line on stdout, in osu_emit's key order. */
export function emit(line: Line): void {
  process.stdout.write(JSON.stringify({ ...line, value: Number(line.value.toFixed(4)) }) + '\n');
}

/** Exits unless the job has exactly `n` ranks (status 2, like the C programs). */
export function requireRanks(spec: BenchSpec, comm: Comm, n: number): void {
  if (comm.size !== n) fail(spec, `needs exactly ${n} ranks, got ${comm.size}`);
}

/**
 * A buffer of at least `bytes` bytes (at least 4), page-aligned and with its pages mapped, as osu_alloc
 * (C) and the mmap buffers of the mpi4py side are: alignedArray, not `new Uint8Array`, whose memory V8
 * starts 16 bytes past a page (a 1 MiB MPI_Get into such memory is ~20% slower, lib/core/alloc.ts).
 */
export function buffer(bytes: number): Uint8Array {
  return alignedArray('uint8', Math.max(4, bytes));
}
