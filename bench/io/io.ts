// Collective MPI-IO bandwidth through mpi4node, and plain node:fs beside it (run under mpirun by
// bench/io/run.ts). mode 'mpiio': every rank writes its contiguous share of ONE file with writeAtAll
// (then sync) and reads it back with readAtAll, in chunks of at most 256 MiB, as bench/io/io_bw.c does
// in C. mode 'fs': every rank writes its share to a file of its own (fs.writeSync, fsyncSync) and reads
// it back (fs.readSync). Times are the slowest rank's, between barriers, open to close.
// Prints "write_s=<best> read_s=<best> bytes=<n>" on rank 0.
//   usage: io.ts <mpiio|fs> <path> <mib> <reps>
import { closeSync, fsyncSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { File, world } from '../../lib/index.js';

const [mode = 'mpiio', file = '/tmp/mpi4node-io-bench.bin', mibArg = '1024', repsArg = '3'] = process.argv.slice(2);
const CHUNK = 256 * 2 ** 20;
const share = Math.floor((Number(mibArg) * 2 ** 20) / world.size);
const buf = new Uint8Array(Math.min(share, CHUNK)).fill(world.rank + 1);
const mine = `${file}.${world.rank}`;

function phase(write: boolean): number {
  world.barrier();
  const t0 = performance.now();
  if (mode === 'mpiio') {
    const f = File.open(world, file, write ? 'w' : 'r');
    for (let done = 0; done < share; done += CHUNK) {
      const n = Math.min(share - done, CHUNK);
      const at = world.rank * share + done;
      if (write) f.writeAtAll(at, buf.subarray(0, n));
      else f.readAtAll(at, buf.subarray(0, n));
    }
    if (write) f.sync();
    f.close();
  } else {
    const fd = openSync(mine, write ? 'w' : 'r');
    for (let done = 0; done < share; done += CHUNK) {
      const n = Math.min(share - done, CHUNK);
      if (write) writeSync(fd, buf, 0, n, done);
      else readSync(fd, buf, 0, n, done);
    }
    if (write) fsyncSync(fd);
    closeSync(fd);
  }
  const t = (performance.now() - t0) / 1000;
  return world.allreduce(new Float64Array([t]), 'max')[0]!;
}

let bw = Infinity, br = Infinity;
for (let i = 0; i < Number(repsArg); i++) {
  bw = Math.min(bw, phase(true));
  br = Math.min(br, phase(false));
  world.barrier();
  if (mode === 'mpiio' && world.rank === 0) File.delete(file);
  if (mode === 'fs') rmSync(mine, { force: true });
}
if (world.rank === 0) console.log(`write_s=${bw.toFixed(6)} read_s=${br.toFixed(6)} bytes=${share * world.size}`);
