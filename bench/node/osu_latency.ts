// osu_latency method through mpi4node: 2 ranks ping-pong; latency = elapsed / (2 * iters), half a round
// trip, in microseconds. --mode blocking: world.send/world.recv; --mode promise: await world.isend /
// await world.irecv, the same order of operations as the C program. See common.ts for the options.
import { init, world } from '../../lib/index.js';
import { buffer, emit, itersFor, pagesOf, parseOptions, requireRanks, settle, settleIters, sync, timeRounds, type BenchSpec } from './common.js';

const spec: BenchSpec = {
  name: 'osu_latency', dmin: 0, dmax: 4194304, multiple: 1,
  smallIters: 10000, smallWarmup: 100, largeIters: 1000, largeWarmup: 10, jitWarmup: 20000, largeJitWarmup: 5000,
};
const o = parseOptions(spec);
init({ threadLevel: o.threadLevel });
requireRanks(spec, world, 2);
const rank = world.rank;
const max = Math.max(...o.sizes);
const sbuf = buffer(max), rbuf = buffer(max);
const pages = pagesOf(world);
const thread = o.threadLevel;

function blocking(s: Uint8Array, r: Uint8Array, iters: number, warmup: number): Promise<number> {
  return timeRounds((n) => blockingRounds(s, r, n), iters, warmup);
}

function blockingRounds(s: Uint8Array, r: Uint8Array, n: number): void {
  for (let i = 0; i < n; i++) {
    if (rank === 0) {
      world.send(s, 1, 1);
      world.recv(r, 1, 1);
    } else {
      world.recv(r, 0, 1);
      world.send(s, 0, 1);
    }
  }
}

function promise(s: Uint8Array, r: Uint8Array, iters: number, warmup: number): Promise<number> {
  return timeRounds((n) => promiseRounds(s, r, n), iters, warmup);
}

async function promiseRounds(s: Uint8Array, r: Uint8Array, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    if (rank === 0) {
      await world.isend(s, 1, 1);
      await world.irecv(r, 1, 1);
    } else {
      await world.irecv(r, 0, 1);
      await world.isend(s, 0, 1);
    }
  }
}

const run = o.mode === 'blocking' ? blocking : promise;
const first = Math.min(...o.sizes);
await settle(world, () => run(sbuf.subarray(0, first), rbuf.subarray(0, first), 1, settleIters(spec, o)));

for (const size of o.sizes) {
  const { iters, warmup } = itersFor(spec, o, size);
  // A view of exactly `size` bytes: in mpi4node the message length is the array's length.
  const s = sbuf.subarray(0, size).fill(97), r = rbuf.subarray(0, size).fill(98);
  sync(world);
  const elapsed = await run(s, r, iters, warmup);
  const us = (elapsed * 1e6) / (2 * iters);
  if (rank === 0) {
    emit({ bench: 'latency', impl: `mpi4node-${o.mode}`, size, iters, warmup, value: us, unit: 'us', pages, ranks: 2, thread });
  }
}
