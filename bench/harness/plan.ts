// What one repetition runs: every variant of every benchmark, as mpirun commands, grouped so that the
// variants compared with each other run back to back. Sizes and iteration counts are chosen so that
// five repetitions finish in well under 10 minutes on 2 cores (--quick: seconds, every code path).
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { detectMpi, mpirunCommand } from '../../lib/cli/launcher.js';
import { compiledProgram } from './compile.js';
import type { Command } from './exec.js';

export const BENCH_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export type BenchName = 'latency' | 'bw' | 'allreduce' | 'channel' | 'mbw_mr' | RmaBench;
export type RmaBench = 'put_latency' | 'get_latency' | 'acc_latency';

export interface Variant {
  bench: BenchName;
  /** The label its records carry (C programs print "c"; the hugepages run is relabelled). */
  impl: string;
  ranks: number;
  cmd: Command;
  /** May print nothing: the library build has no collectives or channels yet. */
  optional?: boolean;
}

/** Variants compared with each other: run back to back, in alternating order across repetitions. */
export interface Group {
  name: string;
  variants: Variant[];
}

export interface PlanInput {
  quick: boolean;
  native: {
    latency: string; bw: string; allreduce: string; iallreduce: string; bwPersistent: string; mbwMr: string;
    putLatency: string; getLatency: string; accLatency: string;
  };
  /** python3 with mpi4py, or null to skip that column. */
  python: string | null;
  /** Thread level requested on every side (the addon's default is single). */
  threadLevel: string;
}

/**
 * Sizes per benchmark. Channel sizes are a subset of latency's (it is compared with a raw send of the
 * same bytes); 4-rank allreduce runs oversubscribed on 2 cores and so slowly, hence fewer sizes.
 */
export function sizesFor(quick: boolean): Record<BenchName | 'allreduce4', number[]> {
  if (quick) {
    // 128 KiB: above the addon's 64 KiB fast path, the channel's 16 KiB copy limit and the eager limit.
    return {
      latency: [8, 131072], bw: [8, 131072], allreduce: [4, 131072], allreduce4: [4, 131072], channel: [8, 131072], mbw_mr: [8],
      put_latency: [8, 131072], get_latency: [8, 131072], acc_latency: [8, 131072],
    };
  }
  // One-sided: OSU's range is 1 B-4 MiB; small, the eager/rendezvous region and 1 MiB, as for latency.
  const rma = [8, 64, 512, 4096, 32768, 262144, 1048576];
  // Latency stops at 1 MiB and channels at 4 KiB to keep 5 repetitions well inside 10 minutes: a 4 MiB
  // ping-pong costs ~1.5 s a variant, and a channel's zero-copy path for large payloads (covered by
  // --quick; measured by bench/channel.ts) costs milliseconds a message today.
  return {
    latency: [8, 64, 512, 4096, 32768, 262144, 1048576],
    bw: [8, 64, 512, 4096, 32768, 262144, 1048576, 4194304],
    allreduce: [4, 64, 1024, 16384, 262144, 1048576],
    allreduce4: [4, 1024, 16384, 1048576],
    channel: [8, 64, 512, 4096],
    mbw_mr: [8, 512, 4096],
    put_latency: rma,
    get_latency: rma,
    acc_latency: rma,
  };
}

/** Huge-page C runs (an extra row, never a ratio's reference): large sizes only. */
function hugeSizes(quick: boolean, bench: BenchName): number[] {
  if (quick) return [131072];
  return bench === 'bw' ? [262144, 1048576, 4194304] : [262144, 1048576];
}

// --quick: a handful of iterations, just enough to see every path work and give a sane number.
const QUICK_ITERS: Record<BenchName, string[]> = {
  latency: ['--iters', '30', '--warmup', '10'],
  bw: ['--iters', '3', '--warmup', '1'],
  allreduce: ['--iters', '20', '--warmup', '5'],
  channel: ['--iters', '30', '--warmup', '10'],
  mbw_mr: ['--iters', '3', '--warmup', '1'],
  put_latency: ['--iters', '30', '--warmup', '10'],
  get_latency: ['--iters', '30', '--warmup', '10'],
  acc_latency: ['--iters', '30', '--warmup', '10'],
};

export function buildPlan(p: PlanInput): Group[] {
  const sizes = sizesFor(p.quick);
  const sizesOf = (b: BenchName, ranks: number) => (b === 'allreduce' && ranks > 2 ? sizes.allreduce4 : sizes[b]);
  const common = (b: BenchName, ranks: number, s = sizesOf(b, ranks)) =>
    ['--sizes', s.join(','), '--thread-level', p.threadLevel, ...(p.quick ? QUICK_ITERS[b] : [])];
  const c = (b: BenchName, bin: string, ranks: number, extra: string[] = [], s?: number[]): Command =>
    mpirunCommand({ np: ranks, program: bin, script: '', scriptArgs: [...common(b, ranks, s), ...extra] });
  const node = (b: BenchName, file: string, ranks: number, mode: string, extra: string[] = []): Command =>
    mpirunCommand({ np: ranks, script: compiledProgram(path.join(BENCH_DIR, 'node', file)), scriptArgs: [...common(b, ranks), '--mode', mode, ...extra] });
  // `program` names the Python benchmark when it is not `b` (bw_persistent is a bw row).
  const py = (b: BenchName, ranks: number, program: string = b): Command =>
    mpirunCommand({
      np: ranks, program: p.python!, script: path.join(BENCH_DIR, 'py', 'osu_mpi4py.py'),
      // mmap buffers are page-aligned normal pages, like the C programs' posix_memalign (numpy would
      // madvise large arrays into huge pages: not like with like).
      scriptArgs: [program, ...common(b, ranks), '--buffer', 'mmap'],
    });

  const twoRank = (b: 'latency' | 'bw', file: string, bin: string): Group => {
    const v: Variant[] = [
      { bench: b, impl: 'c', ranks: 2, cmd: c(b, bin, 2) },
      { bench: b, impl: 'mpi4node-blocking', ranks: 2, cmd: node(b, file, 2, 'blocking') },
      { bench: b, impl: 'mpi4node-promise', ranks: 2, cmd: node(b, file, 2, 'promise') },
    ];
    if (p.python) v.push({ bench: b, impl: 'mpi4py', ranks: 2, cmd: py(b, 2) });
    if (b === 'bw') {
      // Persistent windows beside plain ones: C's own MPI_Send_init/MPI_Startall version is their reference.
      v.push(
        { bench: b, impl: 'c-persistent', ranks: 2, cmd: c(b, p.native.bwPersistent, 2) },
        { bench: b, impl: 'mpi4node-persistent', ranks: 2, cmd: node(b, file, 2, 'persistent') },
      );
      if (p.python) v.push({ bench: b, impl: 'mpi4py-persistent', ranks: 2, cmd: py(b, 2, 'bw_persistent') });
    }
    v.push({ bench: b, impl: 'c-hugepages', ranks: 2, cmd: c(b, bin, 2, ['--hugepages'], hugeSizes(p.quick, b)) });
    return { name: `${b} (2 ranks)`, variants: v };
  };
  const messageRate = (ranks: number): Group => {
    const b = 'mbw_mr';
    const v: Variant[] = [
      { bench: b, impl: 'c', ranks, cmd: c(b, p.native.mbwMr, ranks) },
      { bench: b, impl: 'mpi4node-blocking', ranks, cmd: node(b, 'osu_mbw_mr.ts', ranks, 'blocking') },
      { bench: b, impl: 'mpi4node-promise', ranks, cmd: node(b, 'osu_mbw_mr.ts', ranks, 'promise') },
    ];
    if (p.python) v.push({ bench: b, impl: 'mpi4py', ranks, cmd: py(b, ranks) });
    return { name: `message rate (${ranks} ranks)`, variants: v };
  };
  const allreduce = (ranks: number): Group => {
    const b = 'allreduce';
    const v: Variant[] = [
      { bench: b, impl: 'c', ranks, cmd: c(b, p.native.allreduce, ranks) },
      { bench: b, impl: 'c-nonblocking', ranks, cmd: c(b, p.native.iallreduce, ranks) },
      { bench: b, impl: 'mpi4node-blocking', ranks, cmd: node(b, 'osu_allreduce.ts', ranks, 'blocking'), optional: true },
      { bench: b, impl: 'mpi4node-promise', ranks, cmd: node(b, 'osu_allreduce.ts', ranks, 'promise'), optional: true },
    ];
    if (p.python) v.push({ bench: b, impl: 'mpi4py', ranks, cmd: py(b, ranks) });
    return { name: `allreduce (${ranks} ranks)`, variants: v };
  };
  const channel: Group = {
    name: 'channel (2 ranks)',
    variants: [
      { bench: 'channel', impl: 'mpi4node-channel', ranks: 2, cmd: node('channel', 'osu_channel.ts', 2, 'blocking'), optional: true },
      { bench: 'channel', impl: 'mpi4node-channel-promise', ranks: 2, cmd: node('channel', 'osu_channel.ts', 2, 'promise'), optional: true },
    ],
  };
  // One-sided latency (osu_{put,get,acc}_latency: lock once, operation + flush per iteration).
  const rma = (b: RmaBench, bin: string): Group => {
    const v: Variant[] = [
      { bench: b, impl: 'c', ranks: 2, cmd: c(b, bin, 2) },
      { bench: b, impl: 'mpi4node-blocking', ranks: 2, cmd: node(b, 'osu_rma.ts', 2, 'blocking', ['--op', b.split('_')[0]!]) },
    ];
    if (p.python) v.push({ bench: b, impl: 'mpi4py', ranks: 2, cmd: py(b, 2) });
    return { name: `rma ${b.replace('_', ' ')} (2 ranks)`, variants: v };
  };
  // MPICH busy-polls: a group with more ranks than cores would only measure the starvation.
  const fits = (ranks: number) => detectMpi().flavour !== 'mpich' || ranks <= os.availableParallelism();
  return [
    twoRank('latency', 'osu_latency.ts', p.native.latency),
    channel,
    twoRank('bw', 'osu_bw.ts', p.native.bw),
    allreduce(2),
    ...(fits(4) ? [allreduce(4)] : []),
    messageRate(2),
    ...(fits(4) ? [messageRate(4)] : []),
    rma('put_latency', p.native.putLatency),
    rma('get_latency', p.native.getLatency),
    rma('acc_latency', p.native.accLatency),
  ];
}

/** The memory checks (bench/node/memory.ts), run once. */
export function memoryCommand(quick: boolean): Command {
  const args = quick ? ['--big', String(64 << 20), '--small', '10000'] : ['--big', String(2 ** 30), '--small', '1000000'];
  return mpirunCommand({ np: 2, script: compiledProgram(path.join(BENCH_DIR, 'node', 'memory.ts')), scriptArgs: args, nodeArgs: ['--expose-gc'] });
}
