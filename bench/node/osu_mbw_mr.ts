// osu_mbw_mr method through mpi4node: rank r < n/2 sends windows of 64 messages to r + n/2, which acks
// each window (bench/node/window.ts has the window in each --mode). Message rate = pairs * window *
// iters / the slowest rank's elapsed time, in messages per second. See common.ts for the options.
import { init, world, wtime } from '../../lib/index.js';
import { emit, fail, pagesOf, parseOptions, type BenchSpec } from './common.js';
import { eachSize, WINDOW } from './window.js';

const spec: BenchSpec = {
  name: 'osu_mbw_mr', dmin: 1, dmax: 4194304, multiple: 1,
  smallIters: 100, smallWarmup: 10, largeIters: 20, largeWarmup: 2, jitWarmup: 3000, largeJitWarmup: 100,
};
const o = parseOptions(spec);
init({ threadLevel: o.threadLevel });
const n = world.size, rank = world.rank;
if (n < 2 || n % 2 !== 0) fail(spec, `needs an even number of ranks, got ${n}`);
const pairs = n / 2, sender = rank < pairs, peer = sender ? rank + pairs : rank - pairs;
const pages = pagesOf(world);

await eachSize(o, spec, sender, peer, wtime, async (w, iters, warmup) => {
  const elapsed = await w.run(iters, warmup, () => world.barrier());
  world.barrier();
  return world.allreduce(new Float64Array([elapsed]), 'max')[0]!;
}, (size, iters, warmup, slowest) => {
  if (rank === 0) {
    emit({
      bench: 'mbw_mr', impl: `mpi4node-${o.mode}`, size, iters, warmup, value: (pairs * WINDOW * iters) / slowest,
      unit: 'msg/s', pages, ranks: n, thread: o.threadLevel, window: WINDOW, pairs,
    });
  }
});
