// The job `mpi4node check -n N` runs on every rank: the equivalent of `mpirun -n 2 python -m mpi4py.bench
// helloworld`, plus a message round trip between rank 0 and every other rank and an allreduce. Any
// failure throws, which aborts the whole job (non-zero exit status).
import { libraryVersion, processorName, world, wtime } from '../index.js';

const { rank, size } = world;

const hellos = world.gatherObject(`Hello, World! I am process ${rank} of ${size} on ${processorName()}.`, 0);
if (rank === 0) for (const line of hellos!) console.log(line);

// 8 KiB to each peer and back, doubled by the peer: checks the data, not only that something arrived.
const N = 1024;
if (rank === 0) {
  for (let peer = 1; peer < size; peer++) {
    const out = Float64Array.from({ length: N }, (_, i) => i + peer);
    const back = new Float64Array(N);
    const t0 = wtime();
    world.send(out, peer, 7);
    world.recv(back, peer, 7);
    const us = (wtime() - t0) * 1e6;
    const bad = back.findIndex((x, i) => x !== 2 * out[i]!);
    if (bad >= 0) throw new Error(`round trip 0 <-> ${peer}: element ${bad} is ${back[bad]}, expected ${2 * out[bad]!}`);
    console.log(`round trip 0 <-> ${peer}: ${N * 8} bytes there and back in ${us.toFixed(0)} us, data intact`);
  }
} else {
  const buf = new Float64Array(N);
  world.recv(buf, 0, 7);
  for (let i = 0; i < N; i++) buf[i]! *= 2;
  world.send(buf, 0, 7);
}

const sum = world.allreduce(new Int32Array([rank + 1]), 'sum') as Int32Array;
const expected = (size * (size + 1)) / 2;
if (sum[0] !== expected) throw new Error(`allreduce on rank ${rank}: sum of rank+1 is ${sum[0]}, expected ${expected}`);
world.barrier();
if (rank === 0) {
  console.log(`allreduce: sum over ${size} ranks of rank+1 = ${sum[0]} (expected ${expected})`);
  console.log(`check passed: ${size} rank(s), ${libraryVersion().split('\n')[0]!.trim()}`);
}
