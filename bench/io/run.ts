// The MPI-IO benchmark: collective write and read bandwidth of one file at 2 and 4 ranks, through
// mpi4node (io.ts mpiio), the same C program (io_bw.c) and plain node:fs writes of one file per rank
// (io.ts fs). Not a test: run it by hand on an idle machine.
//   node --import tsx bench/io/run.ts [--mib 1024] [--reps 3] [--ranks 2,4] [--dir /tmp]
// Read figures after a write come mostly from the page cache (nothing here drops it): they measure the
// I/O path, not the disk.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { detectMpi, mpirunCommand } from '../../lib/cli/launcher.js';

const { values } = parseArgs({ options: { mib: { type: 'string', default: '1024' }, reps: { type: 'string', default: '3' },
  ranks: { type: 'string', default: '2,4' }, dir: { type: 'string', default: os.tmpdir() } } });
const here = path.dirname(fileURLToPath(import.meta.url));
const mpi = detectMpi();
const outDir = path.join(here, '..', '..', 'test', '.tmp', 'bench-io', mpi.flavour);
mkdirSync(outDir, { recursive: true });
const cbin = path.join(outDir, 'io_bw');
execFileSync(mpi.mpicc, ['-O2', '-o', cbin, path.join(here, 'io_bw.c')], { stdio: 'inherit' });
const dir = mkdtempSync(path.join(values.dir!, 'mpi4node-iobench-'));
const file = path.join(dir, 'bench.bin');

function run(np: number, how: 'c' | 'mpiio' | 'fs'): { write: number; read: number; bytes: number } {
  const cmd = how === 'c'
    ? mpirunCommand({ np, program: cbin, script: '', scriptArgs: [file, values.mib!, values.reps!] })
    : mpirunCommand({ np, script: path.join(here, 'io.ts'), scriptArgs: [how, file, values.mib!, values.reps!] });
  const out = execFileSync(cmd.command, cmd.args, { env: cmd.env, encoding: 'utf8' });
  const m = /write_s=([\d.]+) read_s=([\d.]+) bytes=(\d+)/.exec(out);
  if (m === null) throw new Error(`no result from ${how} at ${np} ranks:\n${out}`);
  return { write: Number(m[1]), read: Number(m[2]), bytes: Number(m[3]) };
}

console.log(`MPI-IO bench: ${mpi.flavour} ${mpi.version}, ${values.mib} MiB file, best of ${values.reps}, in ${dir}`);
console.log('ranks  how                      write MiB/s  read MiB/s');
try {
  for (const np of values.ranks!.split(',').map(Number)) {
    for (const [how, label] of [['c', 'C MPI-IO (write_at_all)'], ['mpiio', 'mpi4node File (writeAtAll)'], ['fs', 'node:fs, file per rank']] as const) {
      const r = run(np, how);
      const mib = r.bytes / 2 ** 20;
      console.log(`${String(np).padEnd(7)}${label.padEnd(25)}${(mib / r.write).toFixed(0).padStart(11)}${(mib / r.read).toFixed(0).padStart(12)}`);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
