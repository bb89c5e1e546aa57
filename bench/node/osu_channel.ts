// osu_latency method over a typed channel (lib/channel/channel.ts): 2 ranks ping-pong a uint8 tensor of `size`
// bytes on world.channel('osu', { version: 1, dtype: 'uint8' }); latency is half a round trip in
// microseconds, every check of the wire format included (header encode, version/dtype checks on
// receive). --mode blocking: channel.send/channel.recv; --mode promise: await isend / await irecv.
// Compared in bench/run.ts with a raw world.send of the same bytes. Prints nothing and exits 0 when
// this build of the library has no channels.
import { init, world } from '../../lib/index.js';
import { buffer, emit, itersFor, pagesOf, parseOptions, requireRanks, settle, settleIters, sync, timeRounds, type BenchSpec } from './common.js';

const spec: BenchSpec = {
  name: 'osu_channel', dmin: 1, dmax: 4194304, multiple: 1,
  smallIters: 10000, smallWarmup: 100, largeIters: 1000, largeWarmup: 10, jitWarmup: 40000, largeJitWarmup: 5000,
};
const o = parseOptions(spec);
if (typeof (world as { channel?: unknown }).channel !== 'function') {
  if (world.rank === 0) process.stderr.write('osu_channel: this mpi4node has no comm.channel; skipped\n');
  process.exit(0);
}
init({ threadLevel: o.threadLevel });
requireRanks(spec, world, 2);
const rank = world.rank, peer = 1 - rank;
const ch = world.channel('osu', { version: 1, dtype: 'uint8' });
const sbuf = buffer(Math.max(...o.sizes));
const pages = pagesOf(world);

function blocking(s: Uint8Array, iters: number, warmup: number): Promise<number> {
  return timeRounds((n) => blockingRounds(s, n), iters, warmup);
}

function blockingRounds(s: Uint8Array, n: number): void {
  for (let i = 0; i < n; i++) {
    if (rank === 0) {
      ch.send(peer, s);
      ch.recv(peer);
    } else {
      ch.recv(peer);
      ch.send(peer, s);
    }
  }
}

function promise(s: Uint8Array, iters: number, warmup: number): Promise<number> {
  return timeRounds((n) => promiseRounds(s, n), iters, warmup);
}

async function promiseRounds(s: Uint8Array, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    if (rank === 0) {
      await ch.isend(peer, s);
      await ch.irecv(peer);
    } else {
      await ch.irecv(peer);
      await ch.isend(peer, s);
    }
  }
}

const run = o.mode === 'blocking' ? blocking : promise;
await settle(world, () => run(sbuf.subarray(0, Math.min(...o.sizes)), 1, settleIters(spec, o)));

for (const size of o.sizes) {
  const { iters, warmup } = itersFor(spec, o, size);
  const s = sbuf.subarray(0, size).fill(97);
  sync(world);
  const elapsed = await run(s, iters, warmup);
  const us = (elapsed * 1e6) / (2 * iters);
  if (rank === 0) {
    const impl = o.mode === 'blocking' ? 'mpi4node-channel' : 'mpi4node-channel-promise';
    emit({ bench: 'channel', impl, size, iters, warmup, value: us, unit: 'us', pages, ranks: 2, thread: o.threadLevel });
  }
}
await ch.close();
