// osu_bw method through mpi4node: per iteration rank 0 posts a window of 64 isend, rank 1 64 irecv
// (into the same buffer, as OSU does), then rank 1 sends a 4-byte ack. Bandwidth = size * window *
// iters / elapsed, in MB/s (1e6 bytes). --mode blocking completes the window with waitAll (MPI_Wait
// per request) and the ack with send/recv, as C's MPI_Waitall; --mode promise awaits Promise.all and
// the ack's isend/irecv. See common.ts for the options.
import { init, waitAll, world, wtime, type Request, type Status } from '../../lib/index.js';
import { buffer, emit, itersFor, pagesOf, parseOptions, requireRanks, settle, settleIters, sync, type BenchSpec } from './common.js';

const WINDOW = 64;
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
const reqs: Request<Status>[] = new Array(WINDOW);

function blocking(s: Uint8Array, r: Uint8Array, iters: number, warmup: number): number {
  let t0 = wtime();
  for (let i = 0; i < warmup + iters; i++) {
    if (i === warmup) t0 = wtime();
    if (rank === 0) {
      for (let j = 0; j < WINDOW; j++) reqs[j] = world.isend(s, 1, 100);
      waitAll(reqs);
      world.recv(ackR, 1, 101);
    } else {
      for (let j = 0; j < WINDOW; j++) reqs[j] = world.irecv(r, 0, 100);
      waitAll(reqs);
      world.send(ackS, 0, 101);
    }
  }
  return wtime() - t0;
}

async function promise(s: Uint8Array, r: Uint8Array, iters: number, warmup: number): Promise<number> {
  let t0 = wtime();
  for (let i = 0; i < warmup + iters; i++) {
    if (i === warmup) t0 = wtime();
    if (rank === 0) {
      for (let j = 0; j < WINDOW; j++) reqs[j] = world.isend(s, 1, 100);
      await Promise.all(reqs);
      await world.irecv(ackR, 1, 101);
    } else {
      for (let j = 0; j < WINDOW; j++) reqs[j] = world.irecv(r, 0, 100);
      await Promise.all(reqs);
      await world.isend(ackS, 0, 101);
    }
  }
  return wtime() - t0;
}

const run = o.mode === 'blocking' ? blocking : promise;
const first = Math.min(...o.sizes);
await settle(world, () => run(sbuf.subarray(0, first), rbuf.subarray(0, first), 1, settleIters(spec, o)));

for (const size of o.sizes) {
  const { iters, warmup } = itersFor(spec, o, size);
  const s = sbuf.subarray(0, size).fill(97), r = rbuf.subarray(0, size).fill(98);
  sync(world);
  const elapsed = await run(s, r, iters, warmup);
  const mbs = ((size / 1e6) * WINDOW * iters) / elapsed;
  if (rank === 0) {
    emit({
      bench: 'bw', impl: `mpi4node-${o.mode}`, size, iters, warmup, value: mbs, unit: 'MB/s', pages, ranks: 2,
      thread: o.threadLevel, window: WINDOW,
    });
  }
}
