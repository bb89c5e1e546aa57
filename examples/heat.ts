// A 2-D heat-equation stencil on a cartesian grid of ranks: each rank owns a block of the plate, trades
// its edge rows and columns with its four neighbours (persistent requests started together and awaited
// as one Promise, PROC_NULL at the plate's edges) before every step, and rank 0 gathers the plate at the
// end and checks it against the same stencil run serially: bitwise equal, since every point is computed
// by the same operations in the same order. Run with any number of ranks:
//   node bin/mpi4node.js run -n 4 examples/heat.ts [rows cols steps]
// The test suite imports runHeat and serialHeat (test/mpi/cart.test.ts) and runs this file as a job
// (test/unit/examples.test.ts).
import { pathToFileURL } from 'node:url';
import { world, dimsCreate, startAll, PROC_NULL, type CartComm } from '../lib/index.js';

export interface Plate {
  rows: number;
  cols: number;
  steps: number;
  /** Diffusion number (stable below 0.25). */
  alpha: number;
}

// The plate starts cold, its top edge held at 1 and its other edges at 0 (fixed, never updated).
function initial(p: Plate, row: number, col: number): number {
  return row === 0 && col > 0 && col < p.cols - 1 ? 1 : 0;
}

// One point's update, written once so the serial and the parallel run compute it alike.
function update(a: number, c: number, up: number, down: number, left: number, right: number): number {
  return c + a * (up + down + left + right - 4 * c);
}

/** The whole plate after `steps` steps, computed by one process (row-major Float64Array). */
export function serialHeat(p: Plate): Float64Array {
  let u = new Float64Array(p.rows * p.cols), v = new Float64Array(p.rows * p.cols);
  for (let i = 0; i < p.rows; i++) for (let j = 0; j < p.cols; j++) u[i * p.cols + j] = initial(p, i, j);
  v.set(u);
  for (let s = 0; s < p.steps; s++) {
    for (let i = 1; i < p.rows - 1; i++) {
      for (let j = 1; j < p.cols - 1; j++) {
        const k = i * p.cols + j;
        v[k] = update(p.alpha, u[k]!, u[k - p.cols]!, u[k + p.cols]!, u[k - 1]!, u[k + 1]!);
      }
    }
    [u, v] = [v, u];
  }
  return u;
}

/** The rows (or columns) of `n` that part `k` of `parts` owns: [first, count]. */
export function split(n: number, parts: number, k: number): [number, number] {
  const base = Math.floor(n / parts), extra = n % parts;
  return [k * base + Math.min(k, extra), base + (k < extra ? 1 : 0)];
}

/**
 * The stencil on `cart` (a 2-D grid of ranks): returns the whole plate on rank 0, undefined elsewhere.
 * Every rank calls it.
 */
export async function runHeat(cart: CartComm, p: Plate): Promise<Float64Array | undefined> {
  const [r0, nr] = split(p.rows, cart.dims[0]!, cart.coords()[0]!);
  const [c0, nc] = split(p.cols, cart.dims[1]!, cart.coords()[1]!);
  // The block with a halo of one point on every side: (nr + 2) x (nc + 2), row-major.
  const w = nc + 2;
  let u = new Float64Array((nr + 2) * w), v = new Float64Array((nr + 2) * w);
  for (let i = 0; i < nr; i++) for (let j = 0; j < nc; j++) u[(i + 1) * w + j + 1] = initial(p, r0 + i, c0 + j);
  v.set(u);
  const up = cart.shift(0, 1), side = cart.shift(1, 1);
  const colOut = [new Float64Array(nr), new Float64Array(nr)], colIn = [new Float64Array(nr), new Float64Array(nr)];
  // The halo exchange as persistent requests (MPI_Send_init/MPI_Recv_init, made once, started every
  // step with one MPI_Startall): one set per plate array, since u and v swap every step. My first row
  // goes up (to source) and my last row down (to dest), straight from and into the plate; columns go
  // through buffers. Tags say which edge a message is for, so a grid of 1 or 2 along a dimension (where
  // both neighbours may be the same rank) still pairs them right. PROC_NULL at the plate's edges: those
  // halos are never read (edge points are fixed).
  const halo = (a: Float64Array) => [
    cart.recvInit(a.subarray(1, 1 + nc), up.source, 1), cart.recvInit(a.subarray((nr + 1) * w + 1, (nr + 1) * w + 1 + nc), up.dest, 0),
    cart.recvInit(colIn[0]!, side.source, 3), cart.recvInit(colIn[1]!, side.dest, 2),
    cart.sendInit(a.subarray(w + 1, w + 1 + nc), up.source, 0), cart.sendInit(a.subarray(nr * w + 1, nr * w + 1 + nc), up.dest, 1),
    cart.sendInit(colOut[0]!, side.source, 2), cart.sendInit(colOut[1]!, side.dest, 3),
  ];
  const sets = [halo(u), halo(v)];

  for (let s = 0; s < p.steps; s++) {
    for (let i = 0; i < nr; i++) {
      colOut[0]![i] = u[(i + 1) * w + 1]!;
      colOut[1]![i] = u[(i + 1) * w + nc]!;
    }
    await startAll(sets[s % 2]!);
    for (let i = 0; i < nr; i++) {
      if (side.source !== PROC_NULL) u[(i + 1) * w] = colIn[0]![i]!;
      if (side.dest !== PROC_NULL) u[(i + 1) * w + nc + 1] = colIn[1]![i]!;
    }
    for (let i = 1; i <= nr; i++) {
      const gi = r0 + i - 1;
      if (gi === 0 || gi === p.rows - 1) continue;
      for (let j = 1; j <= nc; j++) {
        const gj = c0 + j - 1;
        if (gj === 0 || gj === p.cols - 1) continue;
        const k = i * w + j;
        v[k] = update(p.alpha, u[k]!, u[k - w]!, u[k + w]!, u[k - 1]!, u[k + 1]!);
      }
    }
    [u, v] = [v, u];
  }
  for (const r of sets.flat()) r.free();

  // Gather every block to rank 0, which places it by its rank's coordinates.
  const mine = new Float64Array(nr * nc);
  for (let i = 0; i < nr; i++) mine.set(u.subarray((i + 1) * w + 1, (i + 1) * w + 1 + nc), i * nc);
  const extents = Array.from({ length: cart.size }, (_, r) => {
    const [ci, cj] = cart.coords(r) as [number, number];
    return [split(p.rows, cart.dims[0]!, ci), split(p.cols, cart.dims[1]!, cj)] as const;
  });
  const counts = extents.map(([[, a], [, b]]) => a * b);
  const all = cart.gatherv(mine, counts, 0);
  if (cart.rank !== 0) return undefined;
  const plate = new Float64Array(p.rows * p.cols);
  let at = 0;
  for (const [[gr, rr], [gc, cc]] of extents) {
    for (let i = 0; i < rr; i++) plate.set(all!.subarray(at + i * cc, at + (i + 1) * cc), (gr + i) * p.cols + gc);
    at += rr * cc;
  }
  return plate;
}

/** The largest |a[i] - b[i]|, and whether every element is bitwise the same. */
export function compare(a: Float64Array, b: Float64Array): { maxDiff: number; bitwise: boolean } {
  let maxDiff = 0;
  for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength), y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  return { maxDiff, bitwise: a.length === b.length && x.every((v, i) => v === y[i]) };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [rows = 61, cols = 47, steps = 500] = process.argv.slice(2).map(Number);
  const plate: Plate = { rows, cols, steps, alpha: 0.2 };
  const cart = world.cart(dimsCreate(world.size, 2));
  const t0 = performance.now();
  const result = await runHeat(cart, plate);
  if (cart.rank === 0) {
    const ms = performance.now() - t0;
    const { maxDiff, bitwise } = compare(result!, serialHeat(plate));
    console.log(`heat: ${rows}x${cols} plate, ${steps} steps on a ${cart.dims.join('x')} grid of ranks in ${ms.toFixed(0)} ms`);
    console.log(`heat: centre temperature ${result![(rows >> 1) * cols + (cols >> 1)]!.toExponential(6)}`);
    console.log(`heat: max |parallel - serial| = ${maxDiff}${bitwise ? ' (bitwise equal to the serial run)' : ''}`);
    if (!bitwise) process.exitCode = 1;
  }
  cart.free();
}
