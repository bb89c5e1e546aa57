// osu_mbw_mr method through mpi4node: rank r < n/2 sends windows of 64 messages to r + n/2, which acks
// each window (bench/node/window.ts has the window in each --mode). Message rate = pairs * window *
// iters / the slowest rank's elapsed time, in messages per second. See common.ts for the options.
import { init, world, wtime } from '../../lib/index.js';
import { buffer, emit, fail, itersFor, pagesOf, parseOptions, settle, settleIters, sync, type BenchSpec } from './common.js';
import { WINDOW, windowOf } from './window.js';

const spec: BenchSpec = {
  name: 'osu_mbw_mr', dmin: 1, dmax: 4194304, multiple: 1,
  smallIters: 100, smallWarmup: 10, largeIters: 20, largeWarmup: 2, jitWarmup: 500,
};
const o = parseOptions(spec);
init({ threadLevel: o.threadLevel });
const n = world.size, rank = world.rank;
if (n < 2 || n % 2 !== 0) fail(spec, `needs an even number of ranks, got ${n}`);
const pairs = n / 2, sender = rank < pairs, peer = sender ? rank + pairs : rank - pairs;
const max = Math.max(4, ...o.sizes);
const sbuf = buffer(max), rbuf = buffer(max);
const ackS = sbuf.subarray(0, 4), ackR = rbuf.subarray(0, 4);
const pages = pagesOf(world);
const windowFor = (s: Uint8Array, r: Uint8Array) => windowOf(o.mode, sender, peer, s, r, ackS, ackR, wtime);

const first = Math.min(...o.sizes);
const warm = windowFor(sbuf.subarray(0, first), rbuf.subarray(0, first));
await settle(world, () => warm.run(1, settleIters(spec, o)));
warm.close();

for (const size of o.sizes) {
  const { iters, warmup } = itersFor(spec, o, size);
  const w = windowFor(sbuf.subarray(0, size).fill(97), rbuf.subarray(0, size).fill(98));
  sync(world);
  const elapsed = await w.run(iters, warmup, () => world.barrier());
  world.barrier();
  const slowest = world.allreduce(new Float64Array([elapsed]), 'max')[0]!;
  w.close();
  if (rank === 0) {
    emit({
      bench: 'mbw_mr', impl: `mpi4node-${o.mode}`, size, iters, warmup, value: (pairs * WINDOW * iters) / slowest,
      unit: 'msg/s', pages, ranks: n, thread: o.threadLevel, window: WINDOW, pairs,
    });
  }
}
