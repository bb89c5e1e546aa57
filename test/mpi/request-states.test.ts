// Request states as MPI defines them (MPI-4.1 §3.7.3, §3.7.5): a request whose completion has been
// reported (by wait, a true test, or any of the multiple-completion calls) is inactive, and the
// multiple-completion calls skip inactive requests; over no active request they return undefined
// (MPI_UNDEFINED). Receives from PROC_NULL complete at once with MPI's empty status.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  world, ANY_TAG, PROC_NULL, waitAll, waitAny, waitSome, testAll, testAny, testSome, type Request, type Status,
} from '../../lib/index.js';

const rank = world.rank, size = world.size;
const next = (rank + 1) % size, prev = (rank - 1 + size) % size;
let tag = 500;

/** n receives from prev, matched by n sends to next; returns the receives and the sends. */
function exchange(n: number): { recvs: Request<Status>[]; sends: Request<Status>[]; bufs: Int32Array[] } {
  const t = tag;
  tag += n;
  const bufs = Array.from({ length: n }, () => new Int32Array(1));
  const recvs = bufs.map((b, i) => world.irecv(b, prev, t + i));
  const sends = Array.from({ length: n }, (_, i) => world.isend(new Int32Array([i]), next, t + i));
  return { recvs, sends, bufs };
}

test('the standard waitAny loop reports each request exactly once', () => {
  const n = 8;
  const { recvs, sends, bufs } = exchange(n);
  const seen = new Set<number>();
  for (let k = 0; k < n; k++) {
    const r = waitAny(recvs);
    assert.ok(r !== undefined, `call ${k} found no active request`);
    assert.not.ok(seen.has(r!.index), `index ${r!.index} reported twice`);
    seen.add(r!.index);
    assert.is(r!.value.tag, recvs[r!.index]!.value!.tag);
    assert.is(bufs[r!.index]![0], r!.index);
  }
  assert.is(waitAny(recvs), undefined, 'no active request left: MPI_UNDEFINED');
  waitAll(sends);
});

test('waitAny over no request, or only completed ones, returns undefined', () => {
  assert.is(waitAny([]), undefined);
  const { recvs, sends } = exchange(1);
  recvs[0]!.wait(); // reported: inactive from now on
  assert.is(waitAny(recvs), undefined);
  assert.is(testAny(recvs), undefined);
  assert.is(waitSome(recvs), undefined);
  assert.is(testSome(recvs), undefined);
  waitAll(sends);
});

test('waitSome reports each completion once and never an inactive request', () => {
  const n = 16;
  const { recvs, sends } = exchange(n);
  const seen: number[] = [];
  for (;;) {
    const some = waitSome(recvs);
    if (some === undefined) break;
    assert.ok(some.length >= 1);
    for (const i of some) {
      assert.not.ok(seen.includes(i), `index ${i} reported twice`);
      seen.push(i);
    }
  }
  assert.equal([...seen].sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i));
  assert.is(waitAll(sends).length, n);
});

test('testAny and testSome never block: false / [] while requests are active but not complete', async () => {
  const t = tag++;
  const r = world.irecv(new Int32Array(1), prev, t);
  if (size > 1) {
    // Nothing has been sent to us on this tag yet (the sender waits for the barrier).
    assert.is(testAny([r]), false);
    assert.equal(testSome([r]), []);
  }
  world.barrier();
  const s = world.isend(new Int32Array([7]), next, t);
  let got: { index: number } | false | undefined = false;
  while (got === false) {
    got = testAny([r]);
    if (got === false) await new Promise((res) => setImmediate(res));
  }
  assert.is((got as { index: number }).index, 0);
  assert.is(testAny([r]), undefined);
  await s;
});

test('the testAny loop reports each request exactly once when several completed together', async () => {
  const n = 8;
  const { recvs, sends, bufs } = exchange(n);
  await Promise.all(sends);
  world.barrier(); // every message has been sent to us: one test may find several complete
  const seen = new Set<number>();
  for (let got; (got = testAny(recvs)) !== undefined;) {
    if (got === false) continue;
    assert.not.ok(seen.has(got.index), `index ${got.index} reported twice`);
    seen.add(got.index);
    assert.is(got.value.tag, recvs[got.index]!.value!.tag);
    assert.is(bufs[got.index]![0], got.index);
  }
  assert.is(seen.size, n);
  assert.equal(await Promise.all(recvs).then((sts) => sts.map((st) => st.source)), Array(n).fill(prev));
});

test('testAll completes and reports every request at once; waitAll still returns every value', () => {
  const { recvs, sends } = exchange(4);
  let all: Status[] | undefined;
  while ((all = testAll(recvs)) === undefined);
  assert.is(all.length, 4);
  assert.is(waitAny(recvs), undefined);
  assert.is(waitAll(recvs).length, 4, 'waitAll returns the values of inactive requests too');
  waitAll(sends);
});

test('testAll over a failed request and one still pending: undefined until both complete, then the error', async () => {
  if (size === 1) return; // Open MPI's loopback path does not flag truncation of a posted receive
  // MPICH's MPI_Testall returns the error at once, with the other request MPI_ERR_PENDING (still active).
  const t = tag;
  tag += 2;
  const fits = new Int32Array(2);
  const ok = world.irecv(fits, prev, t), bad = world.irecv(new Int32Array(2), prev, t + 1);
  await world.isend(new Int32Array(8), next, t + 1);
  world.barrier(); // the message that fails has arrived; the other is not sent yet
  for (let k = 0; k < 100; k++) assert.is(testAll([ok, bad]), undefined, 'incomplete while a request waits');
  world.barrier();
  const s = world.isend(new Int32Array([5, 6]), next, t);
  let e: any;
  for (;;) {
    try {
      if (testAll([ok, bad]) !== undefined) break;
    } catch (err) {
      e = err;
      break;
    }
    await new Promise((res) => setImmediate(res));
  }
  assert.is(e?.code, 'ERR_TRUNCATE');
  assert.equal([...fits], [5, 6], 'the pending receive got its message');
  assert.is((await ok).count, 2);
  assert.is(await bad.then(() => 'resolved', (err: { code: string }) => err.code), 'ERR_TRUNCATE');
  await s;
});

test('waitAll of many requests in one native call, with an error among them', () => {
  const { recvs, sends } = exchange(32);
  const statuses = waitAll(recvs);
  statuses.forEach((st, i) => assert.is(st.source, prev, `request ${i}`));
  waitAll(sends);
});

test('receives from PROC_NULL complete at once with source PROC_NULL, tag ANY_TAG, count 0', async () => {
  const check = (st: Status, what: string) => {
    assert.is(st.source, PROC_NULL, `${what}: source`);
    assert.is(st.tag, ANY_TAG, `${what}: tag`);
    assert.is(st.count, 0, `${what}: count`);
    assert.is(st.cancelled, false, `${what}: cancelled`);
  };
  const buf = new Int32Array([42]);
  check(world.recv(buf, PROC_NULL, 3), 'recv');
  check(await world.irecv(buf, PROC_NULL, 3), 'irecv');
  const big = new Float64Array(1 << 17); // not on the small-buffer fast path
  check(world.recv(big, PROC_NULL, 3), 'recv (large)');
  check(await world.irecv(big, PROC_NULL, 3), 'irecv (large)');
  const r1 = world.recv('int32', PROC_NULL, 3);
  assert.is(r1.data.length, 0);
  check(r1.status, 'recv(dtype)');
  const r2 = await world.irecv('int32', PROC_NULL, 3);
  assert.is(r2.data.length, 0);
  check(r2.status, 'irecv(dtype)');
  check(world.sendrecv(new Int32Array(1), PROC_NULL, buf, PROC_NULL), 'sendrecv');
  assert.is(buf[0], 42, 'the buffer is untouched');
  const s = await world.isend(new Int32Array(1), PROC_NULL, 3);
  assert.is(s.cancelled, false);
});

test.run();
