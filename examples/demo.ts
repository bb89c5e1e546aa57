// The 4-rank demo (`npm run demo`): who is here, a ping-pong timed like OSU's osu_latency, a ring
// that passes a token around, and a receive of unknown size. Run with any number of ranks:
//   node bin/mpi4node.js run -n 4 examples/demo.ts
import { world, wtime, libraryVersion, processorName, ANY_SOURCE } from '../lib/index.js';

const rank = world.rank, size = world.size;
const say = (s: string) => rank === 0 && console.log(s);

// 1. Roll call: everyone reports to rank 0.
if (rank === 0) {
  console.log(`mpi4node demo: ${size} ranks, ${libraryVersion().split('\n')[0]}`);
  const hosts = new Map<number, string>([[0, processorName()]]);
  for (let i = 1; i < size; i++) {
    const { data, status } = world.recv('uint8', ANY_SOURCE, 1);
    hosts.set(status.source, Buffer.from(data).toString());
  }
  for (const [r, h] of [...hosts].sort((a, b) => a[0] - b[0])) console.log(`  rank ${r} on ${h}`);
} else {
  world.send(Buffer.from(processorName()), 0, 1);
}

// 2. Ping-pong between ranks 0 and 1: half round trip, blocking and Promise calls. The other ranks
// wait with a Promise receive, which backs off to a slow poll and leaves the cores to the pair.
if (rank >= 2) await world.irecv(new Uint8Array(1), 0, 9);
if (size >= 2 && rank < 2) {
  const peer = 1 - rank;
  const buf = new Uint8Array(8);
  for (const style of ['blocking', 'Promise'] as const) {
    const iters = 20_000, warmup = 2_000;
    let t0 = 0;
    for (let i = 0; i < iters + warmup; i++) {
      if (i === warmup) t0 = wtime();
      if (style === 'blocking') {
        if (rank === 0) { world.send(buf, peer, 2); world.recv(buf, peer, 2); }
        else { world.recv(buf, peer, 2); world.send(buf, peer, 2); }
      } else {
        if (rank === 0) { await world.isend(buf, peer, 3); await world.irecv(buf, peer, 3); }
        else { await world.irecv(buf, peer, 3); await world.isend(buf, peer, 3); }
      }
    }
    const us = ((wtime() - t0) / iters / 2) * 1e6;
    say(`ping-pong 8 B, ${style.padEnd(8)}: ${us.toFixed(2)} us half round trip`);
  }
}
if (rank === 0) for (let r = 2; r < size; r++) world.send(new Uint8Array(1), r, 9);

// 3. A ring: the token visits every rank; each adds its rank. sendrecv cannot deadlock.
const next = (rank + 1) % size, prev = (rank - 1 + size) % size;
const token = new Float64Array([0]);
for (let hop = 0; hop < size; hop++) {
  token[0]! += rank;
  const out = Float64Array.from(token);
  world.sendrecv(out, next, token, prev, 4, 4);
}
say(`ring: token went round ${size} ranks, sum of ranks = ${token[0]} (expected ${(size * (size - 1)) / 2})`);

// 4. A Promise receive of unknown size, with the event loop free meanwhile.
if (size >= 2) {
  if (rank === 0) {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const { data, status } = await world.irecv('float32', size - 1, 5);
    clearInterval(timer);
    console.log(`received ${data.length} float32 from rank ${status.source} (last = ${data[data.length - 1]}); ` +
      `the event loop ticked ${ticks} times while waiting`);
  } else if (rank === size - 1) {
    await new Promise((r) => setTimeout(r, 200));
    world.send(Float32Array.from({ length: 100_000 }, (_, i) => i / 2), 0, 5);
  }
}
say('demo done');
