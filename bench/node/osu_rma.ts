// osu_put_latency / osu_get_latency / osu_acc_latency method through mpi4node (bench/native/osu_rma.c
// is the C side, call for call): 2 ranks, a window of allocateWindow memory (MPI_Win_allocate) on each;
// rank 0 takes a shared lock on rank 1 once per size, then per iteration one put, get or float32 'sum'
// accumulate (--op put|get|acc) of `size` bytes at displacement 0 and flush(1); rank 1 waits in a
// barrier. Latency = elapsed / iters in microseconds (a whole operation). See common.ts for the options.
import { init, world, type Window } from '../../lib/index.js';
import { buffer, emit, fail, itersFor, pagesOf, parseOptions, requireRanks, settle, settleIters, sync, timeRounds, type BenchSpec } from './common.js';

const spec: BenchSpec = {
  name: 'osu_rma', dmin: 1, dmax: 4194304, multiple: 1, ops: ['put', 'get', 'acc'],
  smallIters: 10000, smallWarmup: 100, largeIters: 1000, largeWarmup: 10, jitWarmup: 20000, largeJitWarmup: 5000,
};
const o = parseOptions(spec);
if (o.mode !== 'blocking') fail(spec, `--mode: only blocking (put/get/accumulate + flush, as OSU's default)`);
// Accumulates are of float32, as in the C program.
if (o.op === 'acc' && o.sizes.some((s) => s % 4)) fail(spec, '--op acc: every size must be a multiple of 4');
init({ threadLevel: o.threadLevel });
requireRanks(spec, world, 2);
const rank = world.rank;
const max = Math.max(16, ...o.sizes);
const origin = buffer(max);
const win: Window = world.allocateWindow('uint8', max);
const pages = pagesOf(world);
const thread = o.threadLevel;

type Op = (v: Uint8Array, f: Float32Array) => void;
const ops: Record<string, Op> = {
  put: (v) => win.put(v, 1, 0),
  get: (v) => void win.get(v, 1, 0),
  acc: (_v, f) => win.accumulate(f, 1, 0, 'sum'),
};
const op = ops[o.op]!;

// Rank 0's timed loop; rank 1 only meets the barriers around it.
async function loop(size: number, iters: number, warmup: number): Promise<number> {
  if (rank !== 0) return 0;
  const v = origin.subarray(0, size);
  const f = new Float32Array(origin.buffer, 0, size >> 2);
  win.lock(1, 'shared');
  const elapsed = await timeRounds((n) => rounds(v, f, n), iters, warmup);
  win.unlock(1);
  return elapsed;
}

function rounds(v: Uint8Array, f: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    op(v, f);
    win.flush(1);
  }
}

const first = Math.min(...o.sizes);
await settle(world, () => loop(first, 1, settleIters(spec, o)));

for (const size of o.sizes) {
  const { iters, warmup } = itersFor(spec, o, size);
  origin.fill(0, 0, size);
  sync(world);
  const elapsed = await loop(size, iters, warmup);
  sync(world);
  if (rank === 0) {
    emit({ bench: `${o.op}_latency`, impl: 'mpi4node-blocking', size, iters, warmup, value: (elapsed * 1e6) / iters, unit: 'us', pages, ranks: 2, thread });
  }
}
win.free();
