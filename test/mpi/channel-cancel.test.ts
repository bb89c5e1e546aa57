// AbortSignal and cancellation on channels under mpirun with 1-4 ranks: irecv and request take a
// signal; a request that is aborted or times out tells its server, whose handler sees its own signal
// aborted and, when it stops, sends no reply. Requests go around a ring (to next, served for prev).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { world, AbortError, TimeoutError, type Tensor } from '../../lib/index.js';
import { asyncBarrier, rejects, ringSend, sleep, thrown } from './chan-util.js';

const rank = world.rank, size = world.size;
const next = (rank + 1) % size, prev = (rank - 1 + size) % size;
const sync = world.dup();

/** Resolves once `signal` aborts, or rejects after `ms` (so a lost cancel fails the test, not the run). */
function aborted(signal: AbortSignal, ms = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(() => reject(new Error('the handler was never cancelled')), ms);
    signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });
}

/** A channel whose handler waits for its signal, then stops (throws): `stopped()` counts those. */
function stoppingServer(name: string) {
  const ch = world.channel(name, { version: 1 });
  let stopped = 0;
  const server = ch.serve(async (_m: number, env) => {
    await aborted(env.signal);
    stopped++;
    env.signal.throwIfAborted();
  });
  return { ch, server, stopped: () => stopped };
}

async function until(cond: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.unreachable('condition not reached in time');
    await sleep(5);
  }
}

test('irecv: an aborted signal rejects at once; an abort while waiting cancels the receive, and no message is lost', async () => {
  const ch = world.channel('c/irecv', { version: 1 });
  const err = await rejects(ch.irecv(prev, { signal: AbortSignal.abort('stop') }));
  assert.instance(err, AbortError);
  assert.is(err.code, 'ABORT_ERR');
  assert.is(err.cause, 'stop');
  const ac = new AbortController();
  const waiting = ch.irecv(prev, { signal: ac.signal });
  await sleep(10);
  ac.abort();
  assert.instance(await rejects(waiting), AbortError);
  await asyncBarrier(sync);
  ringSend(ch, next, new Int32Array([rank]));
  const env = await ch.irecv<Tensor>(prev, { signal: new AbortController().signal });
  assert.equal(Array.from(env.message.data as Int32Array), [prev], 'the next message goes to the next receive');
  assert.is(thrown(() => ch.irecv(prev, { signal: 'no' as never })).code, 'ERR_INVALID_ARG_TYPE');
  await ch.close();
});

test('irecv without a signal: its Promise cancelled (it is the receive request) rejects with AbortError; nothing is lost', async () => {
  const ch = world.channel('c/irecv-cancel', { version: 1 });
  const waiting = ch.irecv(prev) as Promise<unknown> & { cancel(): void };
  assert.type(waiting.cancel, 'function');
  await sleep(10);
  waiting.cancel();
  const err = await rejects(waiting);
  assert.instance(err, AbortError);
  assert.is(err.code, 'ABORT_ERR');
  assert.is(ch.stats.errors, 0, 'a cancelled receive is no bad message');
  await asyncBarrier(sync);
  ringSend(ch, next, new Int32Array([rank, 1]));
  const env = await ch.irecv<Tensor>(prev);
  assert.equal(Array.from(env.message.data as Int32Array), [prev, 1], 'the next message goes to the next receive');
  await ch.close();
});

test('an aborted request rejects with AbortError; the server handler sees its signal abort and, stopping, sends no reply', async () => {
  const { ch, server, stopped } = stoppingServer('c/abort');
  const ac = new AbortController();
  const p = ch.request(next, 1, { signal: ac.signal });
  await sleep(20);
  ac.abort(new Error('user gave up'));
  const err = await rejects(p);
  assert.instance(err, AbortError);
  assert.is(err.peer, next);
  assert.is((err.cause as Error).message, 'user gave up');
  await until(() => stopped() === 1);
  assert.is(ch.stats.cancelled, 1);
  assert.is(thrown(() => ch.request(next, 1, { signal: {} as never })).code, 'ERR_INVALID_ARG_TYPE');
  assert.instance(await rejects(ch.request(next, 1, { signal: AbortSignal.abort() })), AbortError, 'aborted before: nothing sent');
  await asyncBarrier(sync);
  await server.close();
  assert.is(ch.stats.served, 0, 'no reply was sent');
  assert.is(ch.stats.lateReplies, 0);
  await ch.close();
});

test('an abort right after the request (the cancel may overtake it) still cancels the handler', async () => {
  const { ch, server, stopped } = stoppingServer('c/early');
  const ac = new AbortController();
  const p = ch.request(next, 1, { signal: ac.signal });
  ac.abort();
  assert.instance(await rejects(p), AbortError);
  await until(() => stopped() === 1);
  await asyncBarrier(sync);
  await server.close();
  assert.is(ch.stats.cancelled, 1);
  await ch.close();
});

test('a timed-out request cancels its handler; a handler that ignores the signal still replies, counted late', async () => {
  const ch = world.channel('c/timeout', { version: 1 });
  let stopped = 0;
  const server = ch.serve(async (m: { honour: boolean }, env) => {
    await aborted(env.signal);
    if (m.honour) {
      stopped++;
      env.signal.throwIfAborted();
    }
    return 'late';
  });
  assert.instance(await rejects(ch.request(next, { honour: true }, { timeoutMs: 30 })), TimeoutError);
  await until(() => stopped === 1);
  assert.instance(await rejects(ch.request(next, { honour: false }, { timeoutMs: 30 })), TimeoutError);
  // Keep a reply receive posted until the late reply came and was counted.
  const ac = new AbortController();
  const keepListening = ch.request(next, { honour: true }, { signal: ac.signal });
  await until(() => ch.stats.lateReplies === 1);
  ac.abort();
  assert.instance(await rejects(keepListening), AbortError);
  await until(() => stopped === 2);
  await asyncBarrier(sync);
  await server.close();
  assert.is(ch.stats.timeouts, 2);
  assert.is(ch.stats.cancelled, 3);
  assert.is(ch.stats.served, 1, 'only the ignoring handler replied');
  await ch.close();
});

test.after(() => sync.free());

test.run();
