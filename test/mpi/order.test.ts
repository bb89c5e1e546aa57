// MPI's non-overtaking rule (MPI-4.1 §3.5) for every kind of receive this library has: messages from
// @timeout 60
// one sender on one communicator match this rank's receives in the order the receives were posted —
// of known and unknown size, blocking and Promise, plain and channel, with wildcards.
// Rank 0 sends, rank 1 receives (one rank: both, to itself); other ranks only take part in barriers.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { world, ANY_SOURCE, ANY_TAG, type Request, type Received, type Tensor } from '../../lib/index.js';

const rank = world.rank, size = world.size;
const sender = 0, receiver = size > 1 ? 1 : 0;
const isSender = rank === sender, isReceiver = rank === receiver;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const int = (v: number) => new Int32Array([v]);
let base = 1000; // a fresh tag range per test, so one test's stragglers can never match the next

/** The receiver posts with `post`, then the sender sends `values` in order with `tags`. */
async function scenario(tags: number[], post: (t: number[]) => (Request<any> | (() => unknown))[]): Promise<unknown[]> {
  const t = tags.map((x) => base + x);
  base += 100;
  const got: unknown[] = [];
  let posted: (Request<any> | (() => unknown))[] = [];
  if (isReceiver) posted = post(t);
  world.barrier(); // every receive is posted before the first message leaves
  const sends = isSender ? t.map((tag, i) => world.isend(int(i), receiver, tag)) : [];
  for (const p of posted) got.push(typeof p === 'function' ? p() : await p);
  await Promise.all(sends);
  world.barrier();
  return got;
}

const value = (r: unknown) => {
  const x = r as Received<Int32Array> | { data?: unknown };
  return (x as Received<Int32Array>).data[0];
};

test('three Promise receives of unknown size resolve in posting order', async () => {
  const got = await scenario([3, 3, 3], (t) => t.map((tag) => world.irecv('int32', sender, tag)));
  if (isReceiver) assert.equal(got.map(value), [0, 1, 2]);
});

test('unknown and known size interleaved: each takes the message its posting position gives it', async () => {
  const bufs = [new Int32Array(1), new Int32Array(1)];
  const got = await scenario([5, 5, 5, 5], (t) => [
    world.irecv('int32', sender, t[0]),
    world.irecv(bufs[0]!, sender, t[1]),
    world.irecv('int32', sender, t[2]),
    world.irecv(bufs[1]!, sender, t[3]),
  ]);
  if (isReceiver) {
    assert.is(value(got[0]), 0);
    assert.is(bufs[0]![0], 1);
    assert.is(value(got[2]), 2);
    assert.is(bufs[1]![0], 3);
  }
});

test('wildcards: ANY_SOURCE/ANY_TAG posted first takes the first message', async () => {
  const buf = new Int32Array(1);
  const got = await scenario([7, 7, 8], (t) => [
    world.irecv('int32', ANY_SOURCE, ANY_TAG),
    world.irecv(buf, sender, t[1]),
    world.irecv('int32', sender, ANY_TAG),
  ]);
  if (isReceiver) {
    assert.is(value(got[0]), 0);
    assert.is((got[0] as Received).status.tag, base - 100 + 7);
    assert.is(buf[0], 1);
    assert.is(value(got[2]), 2);
    assert.is((got[2] as Received).status.tag, base - 100 + 8);
  }
});

test('a blocking receive after a pending Promise receive of unknown size takes the second message', async () => {
  const known = new Int32Array(1);
  const got = await scenario([9, 9, 9], (t) => {
    const p = world.irecv('int32', sender, t[0]);
    // The blocking calls run once the messages are on their way (they would wait otherwise).
    return [p, () => (world.recv(known, sender, t[1]), known[0]), () => world.recv('int32', sender, t[2]).data[0]];
  });
  if (isReceiver) assert.equal([value(got[0]), got[1], got[2]], [0, 1, 2]);
});

test('a receive posted after its message arrived does not overtake an earlier one still waiting', async () => {
  const t = base;
  base += 100;
  if (size === 1) {
    const first = world.irecv('int32', 0, t);
    const a = world.isend(int(0), 0, t);
    await sleep(5);
    const second = world.irecv('int32', 0, t);
    const b = world.isend(int(1), 0, t);
    assert.is((await first).data[0], 0, 'the first receive posted gets the first message');
    assert.is((await second).data[0], 1);
    await Promise.all([a, b]);
  } else if (isReceiver) {
    const first = world.irecv('int32', sender, t);
    world.barrier();
    // The message is sent now and has arrived once the sender says so on another tag.
    world.recv(new Int32Array(1), sender, t + 1);
    await sleep(5);
    const second = world.irecv('int32', sender, t);
    world.barrier();
    assert.is((await first).data[0], 0, 'the first receive posted gets the first message');
    assert.is((await second).data[0], 1);
  } else if (isSender) {
    world.barrier();
    const a = world.isend(int(0), receiver, t);
    const ack = world.isend(int(0), receiver, t + 1);
    world.barrier();
    const b = world.isend(int(1), receiver, t);
    await Promise.all([a, ack, b]);
  } else {
    world.barrier();
    world.barrier();
  }
  world.barrier();
});

test('sixty concurrent channel receives resolve in posting order', async () => {
  const ch = world.channel('order/sixty', { version: '1.0' });
  const n = 60;
  let got: number[] = [];
  const ps = isReceiver ? Array.from({ length: n }, () => ch.irecv<Tensor<Float64Array>>(sender)) : [];
  world.barrier();
  const sends = isSender ? Array.from({ length: n }, (_, i) => ch.isend(receiver, new Float64Array([i]))) : [];
  if (isReceiver) got = (await Promise.all(ps)).map((e) => e.message.data[0]!);
  await Promise.all(sends);
  if (isReceiver) assert.equal(got, Array.from({ length: n }, (_, i) => i));
  world.barrier();
});

test('large (rendezvous) and small messages of unknown size keep their order', async () => {
  const t = base;
  base += 100;
  const sizes = [1 << 18, 1, 1 << 16, 3];
  let got: number[][] = [];
  const ps = isReceiver ? sizes.map(() => world.irecv('float64', sender, t)) : [];
  world.barrier();
  const sends = isSender ? sizes.map((n, i) => world.isend(new Float64Array(n).fill(i), receiver, t)) : [];
  if (isReceiver) got = (await Promise.all(ps)).map((r) => [r.data.length, r.data[r.data.length - 1]!]);
  await Promise.all(sends);
  if (isReceiver) assert.equal(got, sizes.map((n, i) => [n, i]));
  world.barrier();
});

test.run();
