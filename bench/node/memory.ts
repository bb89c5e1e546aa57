// Memory behaviour of mpi4node, 2 ranks (run with node --expose-gc for the after-GC figures):
//   small: N round trips of an 8-byte message (blocking, then Promise); VmRSS before (after a warm-up
//          and a GC), after, and after another GC: should stay flat (no per-message leak).
//   big:   rank 0 sends a BYTES-byte Uint8Array to rank 1, both allocated and touched first (blocking,
//          then Promise); the rise of peak RSS (VmHWM) during the send, the larger of the two ranks:
//          should be far below BYTES (no hidden copy of the message).
//   node --import tsx bench/node/memory.ts [--big BYTES] [--small N]   (under mpirun -n 2)
// Rank 0 prints one JSON line per measurement, like the OSU programs (bench "memory-small"/"memory-big").
import { readFileSync } from 'node:fs';
import { init, world } from '../../lib/index.js';
import { emit, sync } from './common.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  const v = i < 0 ? dflt : Number(process.argv[i + 1]);
  if (!Number.isSafeInteger(v) || v < 1) {
    if (world.rank === 0) process.stderr.write(`memory: ${name} needs a positive integer\n`);
    process.exit(2);
  }
  return v;
}

const BIG = arg('--big', 2 ** 30);
const SMALL = arg('--small', 1e6);
const WARMUP = Math.min(SMALL, 100_000);
init();
if (world.size !== 2) {
  if (world.rank === 0) process.stderr.write(`memory: needs exactly 2 ranks, got ${world.size}\n`);
  process.exit(2);
}
const rank = world.rank, peer = 1 - rank;
const gc = (globalThis as { gc?: () => void }).gc;

/** VmRSS or VmHWM of this process, in MB (1e6 bytes). */
function mem(field: 'VmRSS' | 'VmHWM'): number {
  const kb = Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync('/proc/self/status', 'utf8'))?.[1]);
  return (kb * 1024) / 1e6;
}

// The larger of this rank's and the peer's value (what the job as a whole did).
const pair = new Float64Array(3), other = new Float64Array(3);
function maxOverRanks(a: number, b = 0, c = 0): [number, number, number] {
  pair[0] = a, pair[1] = b, pair[2] = c;
  if (rank === 0) world.recv(other, 1, 3), world.send(pair, 1, 3);
  else world.send(pair, 0, 3), world.recv(other, 0, 3);
  return [Math.max(pair[0], other[0]!), Math.max(pair[1], other[1]!), Math.max(pair[2], other[2]!)];
}

const base = { warmup: 0, pages: 'normal', ranks: 2, thread: 'single' };

// ---- small messages ----
const msg = new Uint8Array(8);
function blockingRounds(n: number): void {
  for (let i = 0; i < n; i++) {
    if (rank === 0) world.send(msg, 1, 1), world.recv(msg, 1, 1);
    else world.recv(msg, 0, 1), world.send(msg, 0, 1);
  }
}
async function promiseRounds(n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    if (rank === 0) await world.isend(msg, 1, 1), await world.irecv(msg, 1, 1);
    else await world.irecv(msg, 0, 1), await world.isend(msg, 0, 1);
  }
}

for (const [impl, rounds] of [['mpi4node-blocking', blockingRounds], ['mpi4node-promise', promiseRounds]] as const) {
  await rounds(WARMUP); // JIT and heap settle first (the young generation grows once)
  gc?.();
  const before = mem('VmRSS');
  sync(world);
  await rounds(SMALL);
  const after = mem('VmRSS');
  gc?.();
  const afterGc = gc ? mem('VmRSS') : NaN;
  const [dNoGc, dGc] = maxOverRanks(after - before, gc ? afterGc - before : -Infinity);
  if (rank === 0) {
    emit({
      bench: 'memory-small', impl, size: 8, iters: SMALL, value: gc ? dGc : dNoGc, unit: 'MB', ...base, warmup: WARMUP,
      rssBeforeMB: round(before), rssAfterMB: round(after), rssAfterGcMB: gc ? round(afterGc) : null,
      deltaNoGcMB: round(dNoGc), gc: gc !== undefined,
    });
  }
}

// ---- one big message ----
const big = new Uint8Array(BIG).fill(rank === 0 ? 1 : 0); // touched: its pages count in RSS already
for (const impl of ['mpi4node-blocking', 'mpi4node-promise'] as const) {
  sync(world);
  const hwm0 = mem('VmHWM');
  if (impl === 'mpi4node-blocking') {
    if (rank === 0) world.send(big, 1, 2);
    else world.recv(big, 0, 2);
  } else if (rank === 0) await world.isend(big, 1, 2);
  else await world.irecv(big, 0, 2);
  const hwm1 = mem('VmHWM');
  if (rank === 1 && (big[0] !== 1 || big[BIG - 1] !== 1)) throw new Error('memory: the big message arrived corrupted');
  const [rise, hwmBefore] = maxOverRanks(hwm1 - hwm0, hwm0);
  if (rank === 0) {
    emit({
      bench: 'memory-big', impl, size: BIG, iters: 1, value: rise, unit: 'MB', ...base,
      hwmBeforeMB: round(hwmBefore), messageMB: round(BIG / 1e6), fraction: Number((rise / (BIG / 1e6)).toFixed(4)),
    });
  }
  if (rank === 1) big.fill(0);
}

function round(x: number): number {
  return Number(x.toFixed(2));
}
