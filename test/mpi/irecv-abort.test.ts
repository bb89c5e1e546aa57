// comm.irecv with an AbortSignal under mpirun with 1-4 ranks: an abort cancels the MPI receive and the
// Request rejects with AbortError; the message, sent later, is received by the next receive; a receive
// that matched before the abort keeps its message; bad options are coded errors.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { world, AbortError } from '../../lib/index.js';
import { rejects, thrown } from './chan-util.js';

const rank = world.rank, size = world.size;

test('an aborted receive rejects with AbortError; the message sent later is not lost', async () => {
  for (const form of ['buffer', 'dtype'] as const) {
    const ac = new AbortController();
    const buf = new Int32Array(1);
    const r = form === 'buffer' ? world.irecv(buf, rank, 91, { signal: ac.signal }) : world.irecv('int32', rank, 91, { signal: ac.signal });
    ac.abort(new Error('no longer needed'));
    const e = await rejects(r);
    assert.instance(e, AbortError);
    assert.is(e.code, 'ABORT_ERR');
    assert.is(e.operation, 'irecv');
    assert.is((e.cause as Error).message, 'no longer needed');
    const s = world.isend(Int32Array.of(7), rank, 91);
    assert.is(world.irecv('int32', rank, 91).wait().data[0], 7, `${form}: the later message reaches the next receive`);
    await s;
  }
});

test('wait() throws the AbortError; an already aborted signal posts nothing', () => {
  const ac = new AbortController();
  const r = world.irecv(new Int32Array(1), rank, 92, { signal: ac.signal });
  ac.abort();
  assert.instance(thrown(() => r.wait()), AbortError);
  const pre = world.irecv(new Int32Array(1), rank, 92, { signal: AbortSignal.abort() });
  assert.instance(thrown(() => pre.wait()), AbortError);
  assert.is(world.iprobe(rank, 92), undefined);
});

test('a receive that matched before the abort keeps its message', async () => {
  const ac = new AbortController();
  const s = world.isend(Int32Array.of(5), rank, 93);
  const st = await world.irecv(new Int32Array(1), rank, 93, { signal: ac.signal });
  ac.abort();
  assert.is(st.cancelled, false);
  await s;
});

test('across ranks: rank 0 gives up on rank 1, then receives what rank 1 sends afterwards', async () => {
  if (size < 2) return;
  if (rank === 0) {
    const ac = new AbortController();
    const r = world.irecv(new Float64Array(1), 1, 94, { signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    assert.instance(await rejects(r), AbortError);
  }
  world.barrier();
  if (rank === 1) world.send(Float64Array.of(2.5), 0, 94);
  if (rank === 0) assert.is(world.recv('float64', 1, 94).data[0], 2.5);
});

test('bad options are coded errors, nothing posted', () => {
  assert.is(thrown(() => world.irecv(new Int32Array(1), rank, 95, { signal: 'x' as never })).code, 'ERR_INVALID_ARG_TYPE');
  assert.is(thrown(() => world.irecv(new Int32Array(1), rank, 95, null as never)).code, 'ERR_INVALID_ARG_TYPE');
  assert.is(thrown(() => world.irecv(new Int32Array(1), size, 95, {})).code, 'ERR_RANK');
  assert.is(world.iprobe(rank, 95), undefined);
});

test.run();
