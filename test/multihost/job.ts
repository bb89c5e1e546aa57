// The job test/unit/multihost.test.ts runs across test hosts and on one host.
//   compute: point-to-point, collectives, a channel and a graph; each rank prints one 'result' line.
//   loop:    each rank prints where it runs, then allreduces every 100 ms until the job is ended.
import os from 'node:os';
import { world } from '../../lib/index.js';

const { rank, size } = world;
const mode = process.argv[2] ?? 'compute';

if (mode === 'loop') {
  console.log(`ready rank ${rank} pid ${process.pid} host ${os.hostname()}`);
  const one = new Float64Array([1]);
  setInterval(() => world.allreduce(one, 'sum'), 100);
} else {
  const next = (rank + 1) % size, prev = (rank + size - 1) % size;
  world.barrier();
  const t0 = performance.now();
  // p2p: a 1 MiB array round the ring (past the eager limit: the rendezvous path over TCP)
  const big = new Float64Array(1 << 17).map((_, i) => rank * 1e6 + i);
  const got = new Float64Array(big.length);
  const r = world.irecv(got, prev, 7);
  world.send(big, next, 7);
  await r;
  let sum = 0;
  for (const v of got) sum += v;
  const allreduce = Array.from(world.allreduce(new Float64Array([rank + 1, rank * rank]), 'sum'));
  const bcast = Array.from(world.bcast(rank === 1 % size ? new Int32Array([4, 5, 6]) : new Int32Array(3), 1 % size));
  const gathered = world.allgatherObject({ rank, host: 'x' }).map((o) => o.rank);
  // a channel round the ring
  const ch = world.channel('ring', { version: '1.0' });
  const incoming = ch.irecv(prev);
  await ch.isend(next, { from: rank, data: new Float32Array([rank, 0.5]) });
  const msg = (await incoming).message as { from: number; data: Float32Array };
  // a ring graph: each rank gathers its neighbours' ranks
  const adj = Array.from({ length: size }, (_, i) => Array.from({ length: size }, (_, j) => (size > 1 && (j === (i + 1) % size || j === (i + size - 1) % size) && i !== j ? 1 : 0)));
  const g = world.graph(adj);
  const neigh = Array.from(g.neighborAllgather(new Int32Array([rank])));
  world.barrier();
  // how long the communication took (printed by the tests, never compared)
  if (rank === 0) console.log(`communication ${(performance.now() - t0).toFixed(0)} ms`);
  console.log(`result ${JSON.stringify({ rank, sum, allreduce, bcast, gathered, channel: [msg.from, Array.from(msg.data)], neigh })}`);
  await ch.close();
}
