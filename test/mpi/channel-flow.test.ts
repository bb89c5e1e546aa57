// Flow control on channels under mpirun with 1-4 ranks: with { window }, a producer that never waits
// cannot put more than about a window of messages in a consumer that does not receive; the rest wait in
// the producer, and everything arrives in order once the consumer receives. Ring: to next, from prev.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { world, type Tensor } from '../../lib/index.js';
import { asyncBarrier, sleep, thrown } from './chan-util.js';

const rank = world.rank, size = world.size;
const next = (rank + 1) % size, prev = (rank - 1 + size) % size;
const sync = world.dup();

test('window 4: of 20 unawaited isends to a rank that does not receive, 7 leave; all arrive in order', async () => {
  const ch = world.channel('f/window', { version: 1, window: 4 });
  let done = 0;
  const sends = Array.from({ length: 20 }, (_, i) => ch.isend(next, new Int32Array([rank, i])).then(() => void done++));
  await sleep(100);
  // 1-7 leave; 4 is synchronous and cannot complete before the receiver matches it; 8 on wait for 4. (1-3
  // and 5-7 may complete: they do with another rank on both MPIs, while MPICH completes no send to
  // oneself before its receive.)
  assert.is(ch.stats.sent, 7, 'only the first window and a half left');
  assert.ok(done <= 6, 'the synchronous send waits for its receive');
  await asyncBarrier(sync);
  for (let i = 0; i < 20; i++) {
    const env = await ch.irecv<Tensor>(prev);
    assert.equal(Array.from(env.message.data as Int32Array), [prev, i]);
  }
  await Promise.all(sends);
  assert.is(done, 20);
  await ch.close();
});

test('a blocking send while Promise sends wait for credit is ERR_CHANNEL_FLOW; nothing is lost', async () => {
  const ch = world.channel('f/busy', { version: 1, window: 2 });
  const sends = [0, 1, 2, 3].map((i) => ch.isend(next, new Int8Array([i])));
  await sleep(50);
  const err = thrown(() => ch.send(next, new Int8Array([9])));
  assert.is(err.code, 'ERR_CHANNEL_FLOW');
  await asyncBarrier(sync);
  for (let i = 0; i < 4; i++) assert.equal(Array.from((await ch.irecv<Tensor>(prev)).message.data as Int8Array), [i]);
  await Promise.all(sends);
  await ch.close();
});

test('blocking sends with a window: every window-th waits for its receive, and all arrive', async () => {
  if (size < 2) return; // a synchronous send to oneself would wait for a receive this rank never reaches
  const ch = world.channel('f/blocking', { version: 1, window: 3 });
  if (rank === 0) for (let i = 0; i < 9; i++) ch.send(1, { i });
  if (rank === 1) for (let i = 0; i < 9; i++) assert.is((await ch.irecv<{ i: number }>(0)).message.i, i);
  await asyncBarrier(sync);
  await ch.close();
});

test('a bad window is a RangeError', () => {
  for (const w of [0, -1, 1.5, NaN]) assert.is(thrown(() => world.channel('f/bad', { version: 1, window: w })).code, 'ERR_INVALID_ARG_VALUE');
});

test.after(() => sync.free());

test.run();
