// Cartesian grids under mpirun with 1-4 ranks: dimsCreate, comm.cart, coords/rankOf/shift/sub, the
// neighbour collectives on a grid (neighbours per dimension: -1 then +1, PROC_NULL off an edge), the
// heat-equation stencil of examples/heat.ts against its serial run, and the bad inputs.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { world, dimsCreate, CartComm, PROC_NULL } from '../../lib/index.js';
import { compare, runHeat, serialHeat } from '../../examples/heat.js';
import { thrown } from '../thrown.js';

const rank = world.rank, size = world.size;

test('dimsCreate: balanced factors, given dims kept, impossible ones refused', () => {
  assert.equal(dimsCreate(4, 2), [2, 2]);
  assert.equal(dimsCreate(6, 2), [3, 2]);
  assert.equal(dimsCreate(12, [0, 3, 0]), [2, 3, 2]);
  assert.equal(dimsCreate(1, 3), [1, 1, 1]);
  assert.equal(dimsCreate(size, 1), [size]);
  for (const bad of [() => dimsCreate(0, 2), () => dimsCreate(4, 0), () => dimsCreate(5, [2, 0]), () => dimsCreate(4, [2, -1]),
    () => dimsCreate(4, [3, 3])]) {
    const e = thrown(bad);
    assert.instance(e, RangeError);
    assert.is(e.code, 'ERR_DIMS', e.message);
  }
});

test('a periodic ring: coords, rankOf (wrapping), shift, neighbours', () => {
  const ring = world.cart([size], true);
  assert.instance(ring, CartComm);
  assert.equal(ring.dims, [size]);
  assert.equal(ring.periods, [true]);
  assert.is(ring.ndims, 1);
  assert.equal(ring.coords(), [ring.rank]);
  const r = ring.rank;
  assert.equal(ring.shift(0, 1), { source: (r - 1 + size) % size, dest: (r + 1) % size });
  assert.equal(ring.shift(0, -2), { source: (r + 2) % size, dest: (r - 2 + 2 * size) % size });
  assert.is(ring.rankOf([r + size]), r, 'a periodic coordinate wraps');
  assert.is(ring.rankOf([-1]), size - 1);
  assert.equal(ring.inNeighbors, [(r - 1 + size) % size, (r + 1) % size]);
  ring.free();
});

test('a 2-D open grid: coords and rankOf invert, PROC_NULL off the edges, sub-grids', () => {
  const dims = dimsCreate(size, 2);
  const g = world.cart(dims, [false, false]);
  assert.equal(g.dims, dims);
  for (let q = 0; q < size; q++) {
    const c = g.coords(q);
    assert.is(c[0]! * dims[1]! + c[1]!, q, 'row-major');
    assert.is(g.rankOf(c), q);
  }
  const [i, j] = g.coords() as [number, number];
  const down = g.shift(0, 1), right = g.shift(1, 1);
  assert.is(down.source, i === 0 ? PROC_NULL : g.rankOf([i - 1, j]));
  assert.is(down.dest, i === dims[0]! - 1 ? PROC_NULL : g.rankOf([i + 1, j]));
  assert.is(right.dest, j === dims[1]! - 1 ? PROC_NULL : g.rankOf([i, j + 1]));
  const row = g.sub([false, true]);
  assert.equal(row.dims, [dims[1]]);
  assert.is(row.rank, j);
  const total = row.allreduce(new Int32Array([g.rank]), 'sum')[0];
  assert.is(total, Array.from({ length: dims[1]! }, (_, k) => i * dims[1]! + k).reduce((a, b) => a + b, 0));
  row.free();
  g.free();
});

test('neighbour collectives on a grid: allgather and alltoall, blocking and Promise; PROC_NULL slots untouched', async () => {
  const dims = dimsCreate(size, 2);
  for (const periods of [[true, true], [false, false]]) {
    const g = world.cart(dims, periods);
    const nb = g.inNeighbors;
    assert.is(nb.length, 4);
    const got = g.neighborAllgather(new Int32Array([100 + g.rank]), new Int32Array(4).fill(-7));
    assert.equal(Array.from(got), nb.map((q) => (q === PROC_NULL ? -7 : 100 + q)));
    const again = await g.ineighborAllgather(new Int32Array([100 + g.rank]), new Int32Array(4).fill(-7));
    assert.equal(Array.from(again), Array.from(got));
    // Alltoall: the block for neighbour k says who sent it and in which slot; a neighbour at -1 gets
    // what I send toward it (slot 2d) in its slot 2d+1, and the other way round.
    const send = Float64Array.from({ length: 4 }, (_, k) => g.rank * 10 + k);
    const recv = await g.ineighborAlltoall(send, new Float64Array(4).fill(-1));
    const sync = g.neighborAlltoall(send, new Float64Array(4).fill(-1));
    for (let k = 0; k < 4; k++) {
      const q = nb[k]!;
      const want = q === PROC_NULL ? -1 : q * 10 + (k ^ 1);
      if (periods[0] && dims[k >> 1]! <= 2) continue; // both neighbours are one rank: which copy lands where is MPI's
      assert.is(recv[k], want, `slot ${k}`);
      assert.is(sync[k], want, `slot ${k}`);
    }
    g.free();
  }
});

test('the heat-equation stencil of examples/heat.ts equals the serial run bitwise', async () => {
  const plate = { rows: 23, cols: 17, steps: 40, alpha: 0.2 };
  const cart = world.cart(dimsCreate(size, 2));
  const got = await runHeat(cart, plate);
  if (rank === 0) {
    const { maxDiff, bitwise } = compare(got!, serialHeat(plate));
    assert.is(maxDiff, 0);
    assert.ok(bitwise);
    assert.ok(got![plate.cols + 8]! > 0, 'heat reached the interior');
  } else {
    assert.is(got, undefined);
  }
  cart.free();
});

test('bad inputs: out-of-range coordinates, ranks, directions, grids that do not fit; the communicator stays usable', () => {
  const g = world.cart([size, 1], [false, true]);
  for (const [bad, cls] of [[() => g.rankOf([size, 0]), RangeError], [() => g.rankOf([-1, 0]), RangeError], [() => g.rankOf([0]), RangeError],
    [() => g.rankOf([0, 0.5]), TypeError], [() => g.rankOf('0' as any), TypeError]] as const) {
    const e = thrown(bad);
    assert.instance(e, cls);
    assert.is(e.code, 'ERR_COORDS', e.message);
  }
  assert.is(g.rankOf([0, 5]), 0, 'dimension 1 is periodic');
  assert.is(thrown(() => g.coords(size)).code, 'ERR_RANK');
  assert.is(thrown(() => g.coords(-1)).code, 'ERR_RANK');
  assert.is(thrown(() => g.shift(2)).code, 'ERR_DIMS');
  assert.is(thrown(() => g.shift(0, 0.5)).code, 'ERR_INVALID_ARG_VALUE');
  assert.is(thrown(() => g.sub([true])).code, 'ERR_DIMS');
  for (const dims of [[size + 1], [0], [], [size, 2], 'x' as any]) assert.is(thrown(() => world.cart(dims)).code, 'ERR_DIMS');
  assert.is(thrown(() => world.cart([size], [true, false])).code, 'ERR_DIMS');
  assert.is(thrown(() => world.cart([size], false, 'yes' as any)).code, 'ERR_INVALID_ARG_TYPE');
  // Different grids on different ranks: every rank gets the same error, none hangs in MPI.
  if (size > 1) assert.is(thrown(() => world.cart(rank === 0 ? [size, 1] : [1, size])).code, 'ERR_DIMS');
  assert.equal(Array.from(g.allreduce(new Int32Array([1]), 'sum')), [size]);
  g.free();
});

test.run();
