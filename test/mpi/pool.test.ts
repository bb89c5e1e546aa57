// Task pools under mpirun with 1-4 ranks: every rank runs tasks, rank 0 submits; results, spreading over
// ranks, remote errors with their stack, back-pressure (a bounded queue) and shutdown.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { world, RemoteError } from '../../lib/index.js';
import { rejects, thrown } from './chan-util.js';

const TASKS = new URL('../fixtures/pool-tasks.ts', import.meta.url).href;

test('submit, map, remote errors with stack, back-pressure, shutdown', async () => {
  const pool = world.pool({ maxQueue: 4 });
  if (pool.isRoot) {
    assert.is(await pool.submit<number>(TASKS, [7]), 49);
    assert.equal(await pool.map<number>(TASKS, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), [1, 4, 9, 16, 25, 36, 49, 64, 81, 100]);
    const ranks = await Promise.all([0, 1, 2, 3].map((i) => pool.submit<{ x: number; rank: number }>(TASKS, [30, i], 'slow')));
    assert.equal(ranks.map((r) => r.x), [0, 1, 2, 3]);
    assert.is(new Set(ranks.map((r) => r.rank)).size, world.size, 'one task per rank while each has one running');
    const full = [0, 1, 2, 3].map((i) => pool.submit(TASKS, [20, i], 'slow'));
    const err = thrown(() => pool.submit(TASKS, [1]));
    assert.is(err.code, 'ERR_POOL_FULL');
    await pool.room();
    assert.ok(pool.pending < 4);
    await Promise.all(full);
    const remote = await rejects(pool.submit(TASKS, ['bad input'], 'fail'));
    assert.instance(remote, RemoteError);
    assert.is(remote.remote.name, 'RangeError');
    assert.match(remote.remote.stack, 'pool-tasks.ts', 'the worker\'s stack');
    assert.is((await rejects(pool.submit(TASKS, [], 'missing'))).remote.code, 'ERR_INVALID_ARG_VALUE');
    assert.is(thrown(() => pool.submit(TASKS, 'x' as never)).code, 'ERR_INVALID_ARG_TYPE');
    await pool.shutdown();
    assert.is(thrown(() => pool.submit(TASKS, [1])).code, 'ERR_CHANNEL_CLOSED');
  } else {
    assert.is(thrown(() => pool.submit(TASKS, [1])).code, 'ERR_ROOT');
  }
  await pool.done;
  assert.is(thrown(() => world.pool({ maxQueue: 0 })).code, 'ERR_INVALID_ARG_VALUE');
});

test.run();
