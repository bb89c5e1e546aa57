// osu_bw method through mpi4node: per iteration rank 0 posts a window of 64 sends, rank 1 64 receives
// (into the same buffer, as OSU does), then rank 1 sends a 4-byte ack (bench/node/window.ts has the
// window in each --mode). Bandwidth = size * window * iters / elapsed, in MB/s (1e6 bytes). See
// common.ts for the options.
import { init, world, wtime } from '../../lib/index.js';
import { emit, pagesOf, parseOptions, requireRanks, type BenchSpec } from './common.js';
import { eachSize, WINDOW } from './window.js';

const spec: BenchSpec = {
  name: 'osu_bw', dmin: 1, dmax: 4194304, multiple: 1,
  smallIters: 100, smallWarmup: 10, largeIters: 20, largeWarmup: 2, jitWarmup: 3000, largeJitWarmup: 100,
};
const o = parseOptions(spec);
init({ threadLevel: o.threadLevel });
requireRanks(spec, world, 2);
const rank = world.rank;
const pages = pagesOf(world);

await eachSize(o, spec, rank === 0, 1 - rank, wtime, (w, iters, warmup) => w.run(iters, warmup), (size, iters, warmup, elapsed) => {
  if (rank === 0) {
    emit({
      bench: 'bw', impl: `mpi4node-${o.mode}`, size, iters, warmup, value: ((size / 1e6) * WINDOW * iters) / elapsed, unit: 'MB/s',
      pages, ranks: 2, thread: o.threadLevel, window: WINDOW,
    });
  }
});
