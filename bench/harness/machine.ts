// What the figures were measured on: they mean little without the CPU, the core count, the kernel, the
// transparent-huge-page mode (which decides what page type plain malloc and V8 get) and the versions.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { detectMpi } from '../../lib/cli/launcher.js';

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  os: string;
  thp: string;
  node: string;
  mpi: string;
  mpiLibrary: string;
  mpi4py: string | null;
}

function read(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** The bracketed choice of /sys/kernel/mm/transparent_hugepage/enabled, e.g. "madvise". */
export function thpMode(): string {
  return /\[(\w+)\]/.exec(read('/sys/kernel/mm/transparent_hugepage/enabled'))?.[1] ?? 'unknown';
}

export function machine(mpiLibrary: string, mpi4py: string | null): Machine {
  const mpi = detectMpi();
  const pretty = /PRETTY_NAME="([^"]+)"/.exec(read('/etc/os-release'))?.[1];
  return {
    cpu: os.cpus()[0]?.model?.trim() || 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: Number((os.totalmem() / 2 ** 30).toFixed(1)),
    kernel: os.release(),
    os: pretty ?? `${os.type()} ${os.release()}`,
    thp: thpMode(),
    node: process.version,
    mpi: `${mpi.flavour} ${mpi.version} (${mpi.mpirun})`,
    mpiLibrary,
    mpi4py,
  };
}

export function describeMachine(m: Machine): string {
  return [
    `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB; ${m.os}, kernel ${m.kernel}`,
    `transparent huge pages: ${m.thp}; Node ${m.node}; MPI: ${m.mpiLibrary.split(',')[0]} (mpirun ${m.mpi})`,
    `mpi4py: ${m.mpi4py ?? 'not found'}`,
  ].join('\n');
}
