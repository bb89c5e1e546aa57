// Collectives under mpirun with 1-4 ranks, each in both forms (blocking and Promise): the semantics of
// the issue, in place, result allocation, zero-length messages, bad input. Every rank makes every
// collective call, in the same order.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { world, IN_PLACE, Request } from '../../lib/index.js';
import { FORMS, arr, call, range, rejects, thrown } from './coll-util.js';

const rank = world.rank, size = world.size;
const N = 10;
const iota = (ctor: any = Float64Array, n = N) => new ctor(range(n));

test('barrier: both forms complete; nobody leaves before the last rank arrives', async () => {
  // An order, not a duration: every rank leaves after rank 0 (which arrives last) entered. The ranks
  // share one host and so one clock (performance.timeOrigin + now() is wall time in ms).
  const entered = new Float64Array(1);
  for (const form of FORMS) {
    if (rank === 0) {
      await new Promise((r) => setTimeout(r, 60));
      entered[0] = performance.timeOrigin + performance.now();
    }
    assert.is(await call(form, 'barrier'), undefined);
    const left = performance.timeOrigin + performance.now();
    world.bcast(entered, 0);
    assert.ok(left >= entered[0]!, `${form}: barrier returned ${entered[0]! - left} ms before rank 0 arrived`);
  }
});

test('ibarrier does not block the event loop while a rank is late', async () => {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  if (rank === 0) await new Promise((r) => setTimeout(r, 80));
  await world.ibarrier();
  clearInterval(timer);
  if (rank !== 0) assert.ok(ticks >= 3, `timers ran ${ticks} times while waiting`);
});

test('bcast from each root: the other ranks\' arrays equal the root\'s (several types)', async () => {
  for (const form of FORMS) {
    for (let root = 0; root < size; root++) {
      const f = new Float64Array(N).fill(-1);
      if (rank === root) f.set(range(N, (i) => root * 100 + i + 0.5));
      const out = await call(form, 'bcast', f, root);
      assert.is(out, f, 'bcast returns its buffer');
      assert.equal(arr(f), range(N, (i) => root * 100 + i + 0.5));
      const b = new BigInt64Array(3);
      if (rank === root) b.set([-(2n ** 63n), 2n ** 63n - 1n, BigInt(root)]);
      await call(form, 'bcast', b, root);
      assert.equal(arr(b), [-(2n ** 63n), 2n ** 63n - 1n, BigInt(root)]);
      const dv = new DataView(new ArrayBuffer(8));
      if (rank === root) dv.setFloat64(0, Math.PI * root, true);
      const bytes = await call(form, 'bcast', dv, root);
      assert.instance(bytes, Uint8Array);
      assert.is(dv.getFloat64(0, true), Math.PI * root);
    }
  }
});

test('reduce, element i = i everywhere: SUM i*size, PROD i^size, MAX = MIN = i; non-root recv untouched', async () => {
  for (const form of FORMS) {
    for (let root = 0; root < size; root++) {
      for (const [op, f] of [['sum', (i: number) => i * size], ['prod', (i: number) => i ** size], ['max', (i: number) => i], ['min', (i: number) => i]] as const) {
        for (const ctor of [Float64Array, Int32Array, Float32Array, BigInt64Array] as any[]) {
          const big = ctor === BigInt64Array;
          const send = big ? new BigInt64Array(range(N).map(BigInt)) : iota(ctor);
          const recv = big ? new BigInt64Array(N).fill(-7n) : new ctor(N).fill(-7);
          const out = await call(form, 'reduce', send, op, root, recv);
          const want = range(N, f).map((v) => (big ? BigInt(v) : v));
          if (rank === root) {
            assert.is(out, recv);
            assert.equal(arr(recv), want, `${form} ${op} ${ctor.name} root ${root}`);
          } else {
            assert.is(out, undefined);
            assert.equal(arr(recv), Array.from({ length: N }, () => (big ? -7n : -7)), 'non-root recv untouched');
          }
        }
      }
    }
  }
});

test('allreduce gives the same result everywhere; a fresh array of the send type when no recv', async () => {
  for (const form of FORMS) {
    for (const [op, f] of [['sum', (i: number) => i * size], ['prod', (i: number) => i ** size], ['max', (i: number) => i], ['min', (i: number) => i]] as const) {
      const send = iota(Int16Array);
      const out = await call(form, 'allreduce', send, op);
      assert.instance(out, Int16Array);
      assert.is.not(out, send);
      assert.equal(arr(out), range(N, f));
      assert.equal(arr(send), range(N), 'send untouched');
    }
    const recv = new Float32Array(N + 2).fill(-1);
    const out = await call(form, 'allreduce', iota(Float32Array), 'sum', recv);
    assert.is(out, recv, 'zero copy into the given recv');
    assert.equal(arr(recv), [...range(N, (i) => i * size), -1, -1], 'elements past the result untouched');
    const buf = Buffer.from([1, 2, 3]);
    const sum = await call(form, 'allreduce', buf, 'sum');
    assert.ok(Buffer.isBuffer(sum), 'a Buffer in, a Buffer out');
    assert.equal(arr(sum), [size, 2 * size, 3 * size]);
  }
});

test('scan: rank r gets (r+1)*i; exscan: rank 0 untouched, rank r > 0 gets r*i', async () => {
  for (const form of FORMS) {
    const s = await call(form, 'scan', iota());
    assert.equal(arr(s), range(N, (i) => (rank + 1) * i));
    const recv = new Float64Array(N).fill(-3);
    const e = await call(form, 'exscan', iota(), 'sum', recv);
    assert.is(e, recv);
    assert.equal(arr(recv), rank === 0 ? range(N, () => -3) : range(N, (i) => rank * i));
    const fresh = await call(form, 'exscan', iota(Int32Array), 'max');
    if (rank > 0) assert.equal(arr(fresh), range(N));
    // in place
    const b = iota();
    await call(form, 'scan', IN_PLACE, 'sum', b);
    assert.equal(arr(b), range(N, (i) => (rank + 1) * i));
    const x = iota();
    x[0] = 99;
    await call(form, 'exscan', IN_PLACE, 'sum', x);
    if (rank === 0) assert.equal(arr(x), [99, ...range(N - 1, (i) => i + 1)], 'rank 0 untouched in place');
    else assert.equal(arr(x), [99 * rank, ...range(N - 1, (i) => rank * (i + 1))]);
  }
});

test('gather / scatter / allgather / alltoall with equal blocks', async () => {
  for (const form of FORMS) {
    for (let root = 0; root < size; root++) {
      const g = await call(form, 'gather', new Int32Array([rank, rank * 10]), root);
      if (rank === root) assert.equal(arr(g), range(size).flatMap((r) => [r, r * 10]));
      else assert.is(g, undefined);
      const send = rank === root ? new Float32Array(range(2 * size, (i) => i + 0.5)) : null;
      const recv = new Float32Array(2);
      const s = await call(form, 'scatter', send, recv, root);
      assert.is(s, recv);
      assert.equal(arr(recv), [2 * rank + 0.5, 2 * rank + 1.5]);
    }
    const ag = await call(form, 'allgather', new Uint16Array([rank, 65535 - rank]));
    assert.equal(arr(ag), range(size).flatMap((r) => [r, 65535 - r]));
    // block j of rank i is [i, j]; rank j receives block i = [i, j]
    const a2a = await call(form, 'alltoall', new Int8Array(range(size).flatMap((j) => [rank, -j])));
    assert.equal(arr(a2a), range(size).flatMap((i) => [i, rank === 0 ? 0 : -rank]));
  }
});

test('gatherv counts r+1 (on 3 ranks [1,2,3]: root gets [0,1,1,2,2,2]); scatterv the inverse', async () => {
  const counts = range(size, (r) => r + 1);
  const flat = range(size).flatMap((r) => range(r + 1, () => r));
  if (size === 3) assert.equal(flat, [0, 1, 1, 2, 2, 2]);
  for (const form of FORMS) {
    for (let root = 0; root < size; root++) {
      const mine = new Int32Array(rank + 1).fill(rank);
      const g = await call(form, 'gatherv', mine, counts, root);
      if (rank === root) assert.equal(arr(g), flat);
      else assert.is(g, undefined);
      // explicit displacements, reversed order, a gap in front
      const displs = range(size, (r) => 2 + counts.slice(r + 1).reduce((a, b) => a + b, 0));
      const into = new Int32Array(2 + flat.length).fill(-1);
      await call(form, 'gatherv', mine, { counts, displs }, root, into);
      if (rank === root) {
        const want = [-1, -1, ...range(size).reverse().flatMap((r) => range(r + 1, () => r))];
        assert.equal(arr(into), want);
      }
      const sv = await call(form, 'scatterv', rank === root ? new Int32Array(flat) : null, counts, new Int32Array(rank + 1), root);
      assert.equal(arr(sv), range(rank + 1, () => rank));
      // non-roots may omit the layout; then the buffer's length is the count
      const sv2 = await call(form, 'scatterv', rank === root ? new Int32Array(flat) : null, rank === root ? counts : null, new Int32Array(rank + 1), root);
      assert.equal(arr(sv2), range(rank + 1, () => rank));
    }
    const agv = await call(form, 'allgatherv', new Int32Array(rank + 1).fill(rank), counts);
    assert.equal(arr(agv), flat);
  }
});

test('alltoallv with uneven counts (and displacements with gaps)', async () => {
  // rank i sends (i + j) % 3 elements to rank j, each i*100 + j*10 + k
  const cnt = (i: number, j: number) => (i + j) % 3;
  for (const form of FORMS) {
    const sendCounts = range(size, (j) => cnt(rank, j));
    const send = new Float64Array(range(size).flatMap((j) => range(cnt(rank, j), (k) => rank * 100 + j * 10 + k)));
    const recvCounts = range(size, (i) => cnt(i, rank));
    const want = range(size).flatMap((i) => range(cnt(i, rank), (k) => i * 100 + rank * 10 + k));
    const out = await call(form, 'alltoallv', send, sendCounts, recvCounts);
    assert.equal(arr(out), want);
    // receive with one free slot before each block
    const displs: number[] = [];
    let at = 0;
    for (let i = 0; i < size; i++) {
      displs.push(at + 1);
      at += recvCounts[i]! + 1;
    }
    const into = new Float64Array(at).fill(-1);
    await call(form, 'alltoallv', send, { counts: sendCounts }, { counts: recvCounts, displs }, into);
    const gapped = range(size).flatMap((i) => [-1, ...range(cnt(i, rank), (k) => i * 100 + rank * 10 + k)]);
    assert.equal(arr(into), gapped);
  }
});

test('reduceScatterBlock and reduceScatter (counts per rank)', async () => {
  for (const form of FORMS) {
    const send = new Int32Array(range(3 * size));
    const rsb = await call(form, 'reduceScatterBlock', send, 'sum');
    assert.equal(arr(rsb), range(3, (k) => (3 * rank + k) * size));
    const counts = range(size, (r) => r % 3);
    const total = counts.reduce((a, b) => a + b, 0);
    const offset = counts.slice(0, rank).reduce((a, b) => a + b, 0);
    const rs = await call(form, 'reduceScatter', new Float64Array(range(total)), counts, 'max');
    assert.equal(arr(rs), range(counts[rank]!, (k) => offset + k));
    const recv = new Float64Array(counts[rank]! + 1).fill(-1);
    const rs2 = await call(form, 'reduceScatter', new Float64Array(range(total)), counts, 'sum', recv);
    assert.is(rs2, recv);
    assert.equal(arr(recv), [...range(counts[rank]!, (k) => (offset + k) * size), -1]);
  }
});

test('in place: IN_PLACE as the send buffer (the receive buffer for scatter/scatterv), and f(buf, op, buf)', async () => {
  for (const form of FORMS) {
    const a = iota();
    assert.is(await call(form, 'allreduce', IN_PLACE, 'sum', a), a);
    assert.equal(arr(a), range(N, (i) => i * size));
    const b = iota(Int32Array);
    assert.is(await call(form, 'allreduce', b, 'max', b), b);
    assert.equal(arr(b), range(N));
    for (let root = 0; root < size; root++) {
      const c = iota(Float32Array);
      const out = await call(form, 'reduce', IN_PLACE, 'sum', root, c);
      assert.equal(arr(c), rank === root ? range(N, (i) => i * size) : range(N), 'result at the root, data kept elsewhere');
      assert.is(out, rank === root ? c : undefined);
      // gather: every rank's block is already in its slot of the full buffer
      const g = new Int32Array(2 * size).fill(-1);
      g.set([rank, rank], 2 * rank);
      await call(form, 'gather', IN_PLACE, root, g);
      if (rank === root) assert.equal(arr(g), range(size).flatMap((r) => [r, r]));
      // scatter: the root's block stays in send; others may receive into their slot of a full buffer
      const sb = new Int32Array(2 * size).fill(-1);
      if (rank === root) sb.set(range(2 * size));
      const mine = await call(form, 'scatter', sb, IN_PLACE, root);
      assert.equal(arr(mine), [2 * rank, 2 * rank + 1]);
      assert.equal(arr(sb.subarray(2 * rank, 2 * rank + 2)), [2 * rank, 2 * rank + 1]);
      const counts = range(size, (r) => r + 1);
      const flat = range(size).flatMap((r) => range(r + 1, () => r));
      const gv = new Int16Array(flat.length).fill(-1);
      const d0 = counts.slice(0, rank).reduce((x, y) => x + y, 0);
      gv.fill(rank, d0, d0 + rank + 1);
      await call(form, 'gatherv', IN_PLACE, counts, root, gv);
      if (rank === root) assert.equal(arr(gv), flat);
      const sv = rank === root ? new Int16Array(flat) : new Int16Array(flat.length).fill(-1);
      const part = await call(form, 'scatterv', sv, counts, IN_PLACE, root);
      assert.equal(arr(part), range(rank + 1, () => rank));
    }
    const ag = new Float64Array(size).fill(-1);
    ag[rank] = rank + 0.25;
    await call(form, 'allgather', IN_PLACE, ag);
    assert.equal(arr(ag), range(size, (r) => r + 0.25));
    const a2a = new Int32Array(range(size, (j) => rank * 10 + j));
    await call(form, 'alltoall', IN_PLACE, a2a);
    assert.equal(arr(a2a), range(size, (i) => i * 10 + rank));
    const counts = range(size, (r) => (r % 2) + 1);
    const displs = range(size, (r) => counts.slice(0, r).reduce((x, y) => x + y, 0));
    const agv = new Int32Array(counts.reduce((x, y) => x + y, 0)).fill(-1);
    agv.fill(rank, displs[rank]!, displs[rank]! + counts[rank]!);
    await call(form, 'allgatherv', IN_PLACE, { counts, displs }, agv);
    assert.equal(arr(agv), range(size).flatMap((r) => range(counts[r]!, () => r)));
    const a2av = new Int32Array(range(size, (j) => rank * 10 + j));
    await call(form, 'alltoallv', IN_PLACE, null, range(size, () => 1), a2av);
    assert.equal(arr(a2av), range(size, (i) => i * 10 + rank));
    const rsb = new Int32Array(range(2 * size));
    const head = await call(form, 'reduceScatterBlock', IN_PLACE, 'sum', rsb);
    assert.equal(arr(head), [2 * rank * size, (2 * rank + 1) * size]);
    assert.is(head.buffer, rsb.buffer, 'the result is a view of the buffer');
    const rs = new Int32Array(range(size));
    const one = await call(form, 'reduceScatter', IN_PLACE, range(size, () => 1), 'sum', rs);
    assert.equal(arr(one), [rank * size]);
  }
});

test('zero-length messages work in every collective', async () => {
  const z = () => new Float64Array(0);
  const zeros = range(size, () => 0);
  for (const form of FORMS) {
    assert.is((await call(form, 'bcast', z(), 0)).length, 0);
    assert.is((await call(form, 'allreduce', z())).length, 0);
    const red = await call(form, 'reduce', z(), 'sum', 0);
    if (rank === 0) assert.is(red.length, 0);
    assert.is((await call(form, 'scan', z())).length, 0);
    assert.is((await call(form, 'exscan', z())).length, 0);
    assert.is((await call(form, 'reduceScatterBlock', z())).length, 0);
    assert.is((await call(form, 'reduceScatter', z(), zeros)).length, 0);
    const g = await call(form, 'gather', z(), 0);
    if (rank === 0) assert.is(g.length, 0);
    assert.is((await call(form, 'scatter', z(), z(), 0)).length, 0);
    assert.is((await call(form, 'allgather', z())).length, 0);
    assert.is((await call(form, 'alltoall', z())).length, 0);
    const gv = await call(form, 'gatherv', z(), zeros, 0);
    if (rank === 0) assert.is(gv.length, 0);
    assert.is((await call(form, 'scatterv', z(), zeros, z(), 0)).length, 0);
    assert.is((await call(form, 'allgatherv', z(), zeros)).length, 0);
    assert.is((await call(form, 'alltoallv', z(), zeros, zeros)).length, 0);
    // some ranks contribute nothing
    const some = range(size, (r) => r % 2);
    const agv = await call(form, 'allgatherv', new Float64Array(rank % 2).fill(rank), some);
    assert.equal(arr(agv), range(size).filter((r) => r % 2 === 1));
  }
});

test('Promise forms keep buffers and counts alive (gc while in flight) and may overlap', async () => {
  const reqs: Request<any>[] = [];
  for (let k = 0; k < 4; k++) {
    reqs.push(world.iallreduce(new Float64Array(1000).fill(k + 1)));
    reqs.push(world.iallgatherv(new Int32Array(rank + 1).fill(k), range(size, (r) => r + 1)));
  }
  (globalThis as any).gc?.();
  const out = await Promise.all(reqs);
  for (let k = 0; k < 4; k++) {
    assert.is(out[2 * k][999], (k + 1) * size);
    assert.equal(arr(out[2 * k + 1]), range(size).flatMap((r) => range(r + 1, () => k)));
  }
  const r = world.iallreduce(new Int32Array([1]));
  assert.is(r.wait()[0], size, 'wait() works on a collective request');
  assert.ok(r.done && r.test());
  assert.is(r.value![0], size);
  assert.is(r.buffer![0], size);
});

test('bad root: RangeError/TypeError ERR_ROOT before MPI, in every rooted collective', () => {
  const b = new Float64Array(size);
  for (const root of [-1, size, 1.5]) {
    const T = Number.isInteger(root) ? RangeError : TypeError;
    rejects('bcast', [b, root], T, 'ERR_ROOT');
    rejects('reduce', [b, 'sum', root], T, 'ERR_ROOT');
    rejects('gather', [b, root], T, 'ERR_ROOT');
    rejects('scatter', [b, new Float64Array(1), root], T, 'ERR_ROOT');
    rejects('gatherv', [b, range(size, () => 1), root], T, 'ERR_ROOT');
    rejects('scatterv', [b, range(size, () => 1), new Float64Array(1), root], T, 'ERR_ROOT');
  }
  assert.equal(arr(world.allreduce(new Int32Array([1]))), [size], 'still usable');
});

test('receive buffer too small: ERR_BUFFER_TOO_SMALL', () => {
  const x = new Float32Array(4);
  rejects('allreduce', [x, 'sum', new Float32Array(3)], RangeError, 'ERR_BUFFER_TOO_SMALL');
  rejects('scan', [x, 'sum', new Float32Array(0)], RangeError, 'ERR_BUFFER_TOO_SMALL');
  rejects('exscan', [x, 'sum', new Float32Array(0)], RangeError, 'ERR_BUFFER_TOO_SMALL');
  rejects('allgather', [x, new Float32Array(4 * size - 1)], RangeError, 'ERR_BUFFER_TOO_SMALL');
  rejects('alltoall', [new Float32Array(size), new Float32Array(size - 1)], RangeError, 'ERR_BUFFER_TOO_SMALL');
  rejects('reduceScatterBlock', [new Float32Array(2 * size), 'sum', new Float32Array(1)], RangeError, 'ERR_BUFFER_TOO_SMALL');
  rejects('allgatherv', [new Float32Array(2), range(size, () => 2), new Float32Array(2 * size - 1)], RangeError, 'ERR_BUFFER_TOO_SMALL');
  rejects('alltoallv', [new Float32Array(size), range(size, () => 1), range(size, () => 1), new Float32Array(size - 1)], RangeError, 'ERR_BUFFER_TOO_SMALL');
  assert.equal(arr(world.allreduce(new Int32Array([2]))), [2 * size], 'still usable');
});

test('counts / displacements of the wrong length or out of bounds: ERR_COUNTS', () => {
  const b = new Int32Array(size);
  const ones = range(size, () => 1);
  rejects('allgatherv', [new Int32Array(1), range(size + 1, () => 1)], RangeError, 'ERR_COUNTS');
  rejects('allgatherv', [new Int32Array(1), [...ones.slice(1), -1]], RangeError, 'ERR_COUNTS');
  rejects('allgatherv', [new Int32Array(1), ones.map(() => 0.5)], RangeError, 'ERR_COUNTS');
  rejects('allgatherv', [new Int32Array(1), { counts: ones, displs: range(size, (r) => r + 1) }, new Int32Array(size)], RangeError, 'ERR_COUNTS');
  rejects('allgatherv', [new Int32Array(1), { counts: ones, displs: ones.slice(1) }], RangeError, 'ERR_COUNTS');
  rejects('allgatherv', [new Int32Array(2), ones], RangeError, 'ERR_COUNTS'); // send != this rank's count
  rejects('allgatherv', [new Int32Array(1), 'nope'], TypeError, 'ERR_COUNTS');
  rejects('alltoallv', [b, range(size, () => 2), ones], RangeError, 'ERR_BUFFER_TOO_SMALL'); // send side, default displs
  rejects('alltoallv', [b, { counts: ones, displs: range(size, () => size) }, ones], RangeError, 'ERR_COUNTS');
  rejects('alltoallv', [b, ones, range(size - 1, () => 1)], RangeError, 'ERR_COUNTS');
  rejects('reduceScatter', [b, range(size, () => 2)], RangeError, 'ERR_COUNTS'); // counts add up to 2*size != size
  rejects('reduceScatter', [b, ones.slice(1)], RangeError, 'ERR_COUNTS');
  rejects('gatherv', [new Int32Array(1), range(size + 1, () => 1), 0], RangeError, 'ERR_COUNTS'); // a given layout is checked everywhere
  rejects('gatherv', [new Int32Array(2), ones, 0], RangeError, 'ERR_COUNTS');
  // the root's send is too short for the layout; the others' receive buffers for their counts
  rejects('scatterv', [new Int32Array(0), ones, new Int32Array(0), 0], RangeError, 'ERR_BUFFER_TOO_SMALL');
  if (size > 1) {
    // Receive layouts whose blocks overlap: MPI would write an element twice.
    const overlap = { counts: range(size, () => 2), displs: range(size, (r) => r) };
    rejects('allgatherv', [new Int32Array(2), overlap, new Int32Array(size + 1)], RangeError, 'ERR_COUNTS');
    rejects('allgatherv', [IN_PLACE, overlap, new Int32Array(size + 1)], RangeError, 'ERR_COUNTS');
    rejects('gatherv', [new Int32Array(2), overlap, 0, new Int32Array(size + 1)], RangeError, 'ERR_COUNTS');
    rejects('alltoallv', [new Int32Array(2 * size), range(size, () => 2), overlap, new Int32Array(size + 1)], RangeError, 'ERR_COUNTS');
    rejects('alltoall', [new Int32Array(size + 1)], RangeError, 'ERR_COUNTS'); // not a multiple of size
    rejects('reduceScatterBlock', [new Int32Array(size + 1)], RangeError, 'ERR_COUNTS');
  }
  assert.equal(arr(world.allgatherv(new Int32Array([rank]), ones)), range(size), 'still usable');
});

test('counts above 2^31-1 where MPI-3 takes int: RangeError ERR_COUNTS (v-collectives, user-defined ops)', () => {
  const huge = new Uint8Array(2 ** 31); // never touched, so never backed by memory
  rejects('gatherv', [huge, null, 0], RangeError, 'ERR_COUNTS');
  rejects('allgatherv', [new Uint8Array(0), range(size, () => 2 ** 31)], RangeError, 'ERR_COUNTS');
  rejects('reduceScatter', [huge, range(size, (r) => (r === 0 ? 2 ** 31 : 0))], RangeError, 'ERR_COUNTS');
  const e = thrown(() => world.allreduce(huge, (a: Uint8Array, b: Uint8Array) => b.set(a)));
  assert.instance(e, RangeError);
  assert.is(e.code, 'ERR_COUNTS');
  assert.equal(arr(world.allreduce(new Int32Array([1]))), [size], 'still usable');
});

test('small arrays (the registered-buffer path): many arrays in turn, two views of one memory, a longer recv', async () => {
  for (const form of FORMS) {
    // More arrays than the addon caches, so registrations evict each other between calls.
    const sends = range(20, (k) => new Int32Array([rank + k, k]));
    const recvs = range(20, () => new Int32Array(2));
    for (let round = 0; round < 3; round++) {
      for (let k = 0; k < 20; k++) {
        assert.is(await call(form, 'allreduce', sends[k], 'sum', recvs[k]), recvs[k]);
        assert.equal(arr(recvs[k]!), [(size * (size - 1)) / 2 + size * k, size * k], `array ${k}, round ${round}`);
      }
    }
    // Two distinct views of the same bytes are the in-place spelling, as f(buf, op, buf) is.
    const mem = new ArrayBuffer(16);
    const v1 = new Float64Array(mem), v2 = new Float64Array(mem);
    v1.set([rank, 1]);
    assert.is(await call(form, 'allreduce', v1, 'max', v2), v2);
    assert.equal(arr(v2), [size - 1, 1]);
    // recv longer than send: the first send.length elements are written, the rest left alone.
    const long = new Float32Array([0, 0, 7]);
    await call(form, 'allreduce', new Float32Array([1, 2]), 'prod', long);
    assert.equal(arr(long), [1, 2 ** size, 7]);
    // 8-bit sums wrap on this path too.
    const u8 = new Uint8Array(1);
    await call(form, 'allreduce', new Uint8Array([200]), 'sum', u8);
    assert.is(u8[0], (200 * size) % 256);
  }
});

test('mismatched dtypes between send and recv: ERR_DTYPE_MISMATCH; overlap: ERR_BUFFER_ALIAS', () => {
  rejects('allreduce', [new Float32Array(2), 'sum', new Float64Array(2)], TypeError, 'ERR_DTYPE_MISMATCH');
  rejects('allreduce', [new Int32Array(2), 'sum', new Uint32Array(2)], TypeError, 'ERR_DTYPE_MISMATCH');
  rejects('allgather', [new Int8Array(1), new Uint8Array(size)], TypeError, 'ERR_DTYPE_MISMATCH');
  rejects('alltoall', [new Float32Array(size), new Int32Array(size)], TypeError, 'ERR_DTYPE_MISMATCH');
  rejects('allgatherv', [new Float32Array(1), range(size, () => 1), new Float64Array(size)], TypeError, 'ERR_DTYPE_MISMATCH');
  rejects('scan', [new BigInt64Array(1), 'sum', new BigUint64Array(1)], TypeError, 'ERR_DTYPE_MISMATCH');
  const shared = new ArrayBuffer(8);
  rejects('allreduce', [new Float32Array(shared), 'sum', new Int32Array(shared)], TypeError, 'ERR_DTYPE_MISMATCH');
  const big = new Float64Array(4 * size);
  rejects('allreduce', [big.subarray(0, 2), 'sum', big.subarray(1, 3)], RangeError, 'ERR_BUFFER_ALIAS');
  rejects('allgather', [big.subarray(0, 1), big.subarray(0, size)], RangeError, 'ERR_BUFFER_ALIAS');
  // byte buffers may mix views: an ArrayBuffer and a Uint8Array carry the same bytes
  const got = world.allgather<ArrayBuffer | Uint8Array>(new Uint8Array([rank]).buffer, new Uint8Array(size));
  assert.equal(arr(got), range(size));
  assert.equal(arr(world.allreduce(new Float64Array([1]))), [size], 'still usable');
});

test('other bad input: buffers, IN_PLACE without a receive buffer, ops, cancel', () => {
  rejects('allreduce', [new DataView(new ArrayBuffer(8))], TypeError, 'ERR_INVALID_BUFFER');
  rejects('allreduce', [[1, 2, 3]], TypeError, 'ERR_INVALID_BUFFER');
  rejects('bcast', [{}], TypeError, 'ERR_INVALID_BUFFER');
  rejects('allreduce', [IN_PLACE, 'sum'], TypeError, 'ERR_INVALID_BUFFER');
  rejects('allgather', [IN_PLACE], TypeError, 'ERR_INVALID_BUFFER');
  rejects('scatter', [new Float64Array(size), undefined, 0], TypeError, 'ERR_INVALID_BUFFER');
  rejects('allreduce', [new Float64Array(1), 'band'], TypeError, 'ERR_OP');
  rejects('allreduce', [new Float64Array(1), 'nope'], TypeError, 'ERR_OP');
  rejects('allreduce', [new Float64Array(1), 42], TypeError, 'ERR_OP');
  rejects('scan', [new Float64Array(1), 'avg'], TypeError, 'ERR_OP');
  const r = world.iallreduce(new Int32Array([1]));
  const e = thrown(() => r.cancel());
  assert.is(e.code, 'ERR_CANCEL_COLLECTIVE');
  assert.equal(arr(r.wait()), [size]);
});

test('a freed communicator: ERR_COMM_FREED, and world stays usable', async () => {
  const c = world.dup();
  c.free();
  const e = thrown(() => c.allreduce(new Int32Array(1)));
  assert.is(e.code, 'ERR_COMM_FREED');
  assert.equal(arr(world.allreduce(new Int32Array([3]))), [3 * size]);
});

test('collectives on a split communicator', async () => {
  const half = world.split(rank % 2)!;
  for (const form of FORMS) {
    const s = await call(form, 'barrier');
    assert.is(s, undefined);
    const sum = half.allreduce(new Int32Array([rank]));
    assert.equal(arr(sum), [range(size).filter((r) => r % 2 === rank % 2).reduce((a, b) => a + b, 0)]);
    const g = await half.iallgather(new Int32Array([rank]));
    assert.equal(arr(g), range(size).filter((r) => r % 2 === rank % 2));
  }
  half.free();
});

test.run();
