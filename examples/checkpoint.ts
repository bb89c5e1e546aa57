// A training checkpoint with MPI-IO: every rank holds one shard of the model's parameters (unequal
// sizes, rank-dependent values), writes it into ONE file collectively at its own offset (MPI may gather
// the pieces into large contiguous writes), and reads it back. The file holds the shards in rank order,
// exactly the bytes one process would write with node:fs. Run with any number of ranks:
//   node bin/mpi4node.js run -n 4 examples/checkpoint.ts
// The test suite imports these functions (test/mpi/io.test.ts) and runs this file as a job
// (test/unit/examples.test.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { world, File, type Comm } from '../lib/index.js';

/** Rank `rank`'s shard: 1000 + 337 * rank float32 parameters with values that say whose they are. */
export function shardOf(rank: number): Float32Array {
  return Float32Array.from({ length: 1000 + 337 * rank }, (_, i) => rank * 10_000 + i * 0.25);
}

/** Where this rank's shard starts, in elements: the lengths of the lower ranks' shards added up. */
export function offsetOf(comm: Comm, shard: Float32Array): number {
  const before = comm.exscan(new Float64Array([shard.length]), 'sum');
  return comm.rank === 0 ? 0 : before[0]!;
}

/** Writes every rank's shard into `file` at its offset, collectively (every rank calls it). */
export async function saveCheckpoint(comm: Comm, file: string, shard: Float32Array): Promise<void> {
  const offset = offsetOf(comm, shard);
  const f = File.open(comm, file, 'w');
  f.setView(0, 'float32');
  await f.iwriteAtAll(offset, shard);
  f.close();
}

/** Reads this rank's shard of `length` elements back, collectively. */
export function loadCheckpoint(comm: Comm, file: string, length: number): Float32Array {
  const shard = new Float32Array(length);
  const offset = offsetOf(comm, shard);
  const f = File.open(comm, file, 'r');
  f.setView(0, 'float32');
  const n = f.readAtAll(offset, shard);
  f.close();
  if (n !== length) throw new Error(`read ${n} of ${length} parameters`);
  return shard;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const dir = world.bcastObject(world.rank === 0 ? mkdtempSync(path.join(os.tmpdir(), 'mpi4node-ckpt-')) : undefined, 0) as string;
  const file = path.join(dir, 'model.ckpt');
  const shard = shardOf(world.rank);
  await saveCheckpoint(world, file, shard);
  const back = loadCheckpoint(world, file, shard.length);
  const intact = back.every((v, i) => v === shard[i]);
  const all = world.allreduce(new Int32Array([intact ? 1 : 0, shard.length]), 'sum');
  if (world.rank === 0) {
    console.log(`checkpoint: ${world.size} ranks wrote ${all[1]} float32 parameters (${all[1]! * 4} bytes) to one file collectively`);
    console.log(`checkpoint: read back intact on ${all[0]} of ${world.size} ranks`);
    rmSync(dir, { recursive: true, force: true });
  }
  if (all[0] !== world.size) process.exitCode = 1;
}
