// osu_bw method through mpi4node: per iteration rank 0 posts a window of 64 sends, rank 1 64 receives
// (into the same buffer, as OSU does), then rank 1 sends a 4-byte ack (bench/node/window.ts has the
// window in each --mode). Bandwidth = size * window * iters / elapsed, in MB/s (1e6 bytes). See
// common.ts for the options.
import { init, world, wtime } from '../../lib/index.js';
import { buffer, emit, itersFor, pagesOf, parseOptions, requireRanks, settle, settleIters, sync, type BenchSpec } from './common.js';
import { WINDOW, windowOf } from './window.js';

const spec: BenchSpec = {
  name: 'osu_bw', dmin: 1, dmax: 4194304, multiple: 1,
  smallIters: 100, smallWarmup: 10, largeIters: 20, largeWarmup: 2, jitWarmup: 500,
};
const o = parseOptions(spec);
init({ threadLevel: o.threadLevel });
requireRanks(spec, world, 2);
const rank = world.rank;
const max = Math.max(4, ...o.sizes);
const sbuf = buffer(max), rbuf = buffer(max);
const ackS = sbuf.subarray(0, 4), ackR = rbuf.subarray(0, 4);
const pages = pagesOf(world);
const windowFor = (s: Uint8Array, r: Uint8Array) => windowOf(o.mode, rank === 0, 1 - rank, s, r, ackS, ackR, wtime);

const first = Math.min(...o.sizes);
const warm = windowFor(sbuf.subarray(0, first), rbuf.subarray(0, first));
await settle(world, () => warm.run(1, settleIters(spec, o)));
warm.close();

for (const size of o.sizes) {
  const { iters, warmup } = itersFor(spec, o, size);
  const s = sbuf.subarray(0, size).fill(97), r = rbuf.subarray(0, size).fill(98);
  const w = windowFor(s, r);
  sync(world);
  const elapsed = await w.run(iters, warmup);
  w.close();
  const mbs = ((size / 1e6) * WINDOW * iters) / elapsed;
  if (rank === 0) {
    emit({
      bench: 'bw', impl: `mpi4node-${o.mode}`, size, iters, warmup, value: mbs, unit: 'MB/s', pages, ranks: 2,
      thread: o.threadLevel, window: WINDOW,
    });
  }
}
