// The parameter server and the shared parameter block (lib/train/patterns.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { world, ParameterServer, ParameterBlock } from '../../lib/index.js';
import { thrown } from '../thrown.js';

const rank = world.rank, size = world.size;

test('parameter server: rounds average the workers\' fresh gradients; a stale push is detected and left out', async () => {
  const ps = new ParameterServer(world, new Float64Array(rank === 0 ? [1, 2, 3] : [0, 0, 0]));
  assert.equal(Array.from(ps.params), [1, 2, 3], 'workers start from the server\'s parameters');
  const workers = size - 1;
  // Round 1: worker w pushes [w, w, w]; the average of 1..workers is (workers + 1) / 2.
  // Round 2: worker 1 pushes with version 0 (stale); the others push [1, 1, 1].
  for (let round = 1; round <= 2; round++) {
    if (ps.isServer) {
      const r = await ps.serve((p, g) => { for (let i = 0; i < p.length; i++) p[i] -= g[i]!; });
      if (workers === 0) {
        assert.equal(r, { version: 0, stale: [] });
      } else {
        assert.equal(r.stale, round === 2 ? [1] : []);
        const fresh = round === 2 ? workers - 1 : workers;
        assert.is(r.version, round === 1 ? 1 : fresh > 0 ? 2 : 1);
      }
    } else {
      const stale = round === 2 && rank === 1;
      const g = new Float64Array(3).fill(round === 1 ? rank : 1);
      const r = await ps.push(g, stale ? 0 : undefined);
      assert.is(r.stale, stale);
    }
  }
  const m1 = workers === 0 ? 0 : (workers + 1) / 2;
  const m2 = workers > 1 ? 1 : 0;
  const want = [1, 2, 3].map((x) => x - m1 - m2);
  assert.equal(Array.from(ps.params), want, 'every rank holds the server\'s parameters');
  ps.free();
});

test('parameter server: a worker that pushes an old version learns it is stale and catches up', async () => {
  if (size < 2) return;
  const ps = new ParameterServer(world, new Float64Array([10]));
  if (ps.isServer) {
    await ps.serve();
    await ps.serve();
  } else {
    await ps.push(new Float64Array([1]));
    const r = await ps.push(new Float64Array([1]), rank === 1 ? -5 : undefined);
    assert.is(r.stale, rank === 1);
  }
  world.barrier();
  const all = world.allgatherObject(Array.from(ps.params));
  for (const p of all) assert.equal(p, all[0]);
  assert.is(thrown(() => new ParameterServer(world, new Float32Array(1) as never)).code, 'ERR_INVALID_BUFFER');
  ps.free();
});

test('parameter block: every rank adds with accumulate, reads with get; the sum of every update lands', () => {
  const owner = size - 1;
  const block = new ParameterBlock(world, 5, owner);
  for (let step = 0; step < 3; step++) block.add(new Float64Array([1, rank, 0.5, -1, step]));
  world.barrier();
  const got = block.read();
  const ranks = (size * (size - 1)) / 2;
  assert.equal(Array.from(got), [3 * size, 3 * ranks, 1.5 * size, -3 * size, 3 * size]);
  world.barrier();
  if (rank === 0) block.write(new Float64Array([7, 7]), 3);
  world.barrier();
  assert.equal(Array.from(block.read(new Float64Array(2), 3)), [7, 7]);
  world.barrier();
  block.free();
});

test.run();
