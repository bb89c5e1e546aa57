// osu_allreduce method through mpi4node: float32 sum over the world. Each iteration is timed on its
// own and followed by a barrier; a rank's latency is the mean of its timed iterations; rank 0 reports
// the mean over ranks plus min and max, in microseconds. --mode blocking: world.allreduce(s, 'sum', r);
// --mode promise: await world.iallreduce(s, 'sum', r). The result is checked after each size.
// Prints nothing and exits 0 when this build of the library has no allreduce yet.
import { init, world, wtime } from '../../lib/index.js';
import { buffer, emit, itersFor, pagesOf, parseOptions, settle, settleIters, type BenchSpec } from './common.js';

const spec: BenchSpec = {
  name: 'osu_allreduce', dmin: 4, dmax: 1048576, multiple: 4,
  smallIters: 1000, smallWarmup: 100, largeIters: 100, largeWarmup: 10, jitWarmup: 10000, largeJitWarmup: 1000,
};
const o = parseOptions(spec);
if (typeof (world as { allreduce?: unknown }).allreduce !== 'function') {
  if (world.rank === 0) process.stderr.write('osu_allreduce: this mpi4node has no comm.allreduce; skipped\n');
  process.exit(0);
}
init({ threadLevel: o.threadLevel });
const nranks = world.size;
const max = Math.max(4, ...o.sizes);
const sbuf = new Float32Array(buffer(max).buffer), rbuf = new Float32Array(buffer(max).buffer);
const pages = pagesOf(world);

// Warm-up and timed rounds are two calls of one loop (see timeRounds in common.ts for why).
function blocking(s: Float32Array, r: Float32Array, iters: number, warmup: number): number {
  blockingRounds(s, r, warmup);
  return blockingRounds(s, r, iters);
}

/** Seconds spent inside the allreduce calls of `n` rounds. */
function blockingRounds(s: Float32Array, r: Float32Array, n: number): number {
  let total = 0;
  for (let i = 0; i < n; i++) {
    const t0 = wtime();
    world.allreduce(s, 'sum', r);
    total += wtime() - t0;
    world.barrier();
  }
  return total;
}

async function promise(s: Float32Array, r: Float32Array, iters: number, warmup: number): Promise<number> {
  await promiseRounds(s, r, warmup);
  return promiseRounds(s, r, iters);
}

async function promiseRounds(s: Float32Array, r: Float32Array, n: number): Promise<number> {
  let total = 0;
  for (let i = 0; i < n; i++) {
    const t0 = wtime();
    await world.iallreduce(s, 'sum', r);
    total += wtime() - t0;
    world.barrier();
  }
  return total;
}

const one = new Float64Array(1), out = new Float64Array(1);
function over(lat: number, op: 'min' | 'max' | 'sum'): number {
  one[0] = lat;
  world.allreduce(one, op, out);
  return out[0]!;
}

const run = o.mode === 'blocking' ? blocking : promise;
const first = Math.min(...o.sizes) / 4;
await settle(world, () => run(sbuf.subarray(0, first).fill(1), rbuf.subarray(0, first), 1, settleIters(spec, o)));

for (const size of o.sizes) {
  const count = size / 4;
  const { iters, warmup } = itersFor(spec, o, size);
  const s = sbuf.subarray(0, count).fill(1), r = rbuf.subarray(0, count).fill(0);
  world.barrier();
  const total = await run(s, r, iters, warmup);
  if (count > 0 && (r[0] !== nranks || r[count - 1] !== nranks)) {
    // Thrown, not exit(): an uncaught error aborts the whole job, as MPI_Abort does in the C program.
    throw new Error(`osu_allreduce: rank ${world.rank}: wrong result ${r[0]} (expected ${nranks})`);
  }
  const lat = (total * 1e6) / iters;
  const mn = over(lat, 'min'), mx = over(lat, 'max'), sum = over(lat, 'sum');
  if (world.rank === 0) {
    emit({
      bench: 'allreduce', impl: `mpi4node-${o.mode}`, size, iters, warmup, value: sum / nranks, unit: 'us', pages,
      ranks: nranks, thread: o.threadLevel, min: Number(mn.toFixed(4)), max: Number(mx.toFixed(4)),
    });
  }
}
