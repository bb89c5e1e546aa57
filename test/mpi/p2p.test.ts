// Blocking point-to-point under mpirun with 1-4 ranks.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { world, ANY_SOURCE, ANY_TAG, PROC_NULL, MpiError, DTYPES, type TypedArray } from '../../lib/index.js';

const rank = world.rank, size = world.size;
const next = (rank + 1) % size, prev = (rank - 1 + size) % size;

// Values that would expose a wrong element type: negatives, fractions, out-of-int32 magnitudes.
function sample(ctor: any, n: number, seed: number): TypedArray {
  const a = new ctor(n);
  for (let i = 0; i < n; i++) {
    if (a instanceof BigInt64Array) a[i] = BigInt(seed * 1000 + i) * -3_000_000_000n;
    else if (a instanceof BigUint64Array) a[i] = BigInt(seed * 1000 + i) * 3_000_000_000n + 2n ** 63n;
    else if (a instanceof Float32Array || a instanceof Float64Array) a[i] = (seed * 1000 + i) * -1.25 + 0.1;
    else a[i] = (seed * 31 + i * 7) % 256 - (a instanceof Int8Array || a instanceof Int16Array || a instanceof Int32Array ? 100 : 0);
  }
  return a;
}

test('every dtype round-trips around a ring (sendrecv)', () => {
  for (const d of DTYPES) {
    if (d.name === 'float16' || d.name === 'bfloat16') continue; // host arrays are uint16: same bytes
    const out = sample(d.array, 37, rank);
    const inp = new d.array(37);
    const st = world.sendrecv(out, next, inp, prev, 11, 11);
    assert.equal(Array.from(inp as any), Array.from(sample(d.array, 37, prev) as any), d.name);
    assert.is(st.source, prev);
    assert.is(st.count, 37);
    assert.is(st.byteCount, 37 * d.size);
  }
});

test('send/recv pairs (0->1 and back), Buffer, DataView, ArrayBuffer, SharedArrayBuffer', () => {
  if (size < 2) return;
  if (rank === 0) {
    world.send(Buffer.from('hello mpi4node'), 1, 1);
    const dv = new DataView(new ArrayBuffer(16));
    dv.setFloat64(8, Math.PI, true);
    world.send(dv, 1, 2);
    const sab = new SharedArrayBuffer(8);
    new Int32Array(sab).set([7, -7]);
    world.send(sab, 1, 3);
    const back = new ArrayBuffer(4);
    world.recv(back, 1, 4);
    assert.equal(Array.from(new Uint8Array(back)), [9, 8, 7, 6]);
  } else if (rank === 1) {
    const b = Buffer.alloc(14);
    world.recv(b, 0, 1);
    assert.is(b.toString(), 'hello mpi4node');
    const dv = new DataView(new ArrayBuffer(16));
    const st = world.recv(dv, 0, 2);
    assert.is(dv.getFloat64(8, true), Math.PI);
    assert.is(st.byteCount, 16);
    const sab = new SharedArrayBuffer(8);
    world.recv(new Int32Array(sab), 0, 3);
    assert.equal(Array.from(new Int32Array(sab)), [7, -7]);
    world.send(new Uint8Array([9, 8, 7, 6]).buffer, 0, 4);
  }
});

test('views with a byteOffset send and receive their own window only', () => {
  if (size < 2) return;
  if (rank === 0) {
    const big = new Float64Array([0, 1, 2, 3, 4, 5, 6, 7]);
    world.send(big.subarray(3, 6), 1, 5);
  } else if (rank === 1) {
    const big = new Float64Array(8).fill(-1);
    const st = world.recv(big.subarray(2, 5), 0, 5);
    assert.equal(Array.from(big), [-1, -1, 3, 4, 5, -1, -1, -1]);
    assert.is(st.count, 3);
  }
});

test('PROC_NULL: send is a no-op, receive leaves the buffer untouched', () => {
  world.send(new Int32Array([1]), PROC_NULL, 3);
  const b = new Int32Array([42, 43]);
  const st = world.recv(b, PROC_NULL, 3);
  assert.equal(Array.from(b), [42, 43]);
  assert.is(st.source, PROC_NULL);
  assert.is(st.count, 0);
  assert.is(st.byteCount, 0);
  const r = world.recv('float64', PROC_NULL);
  assert.is(r.data.length, 0);
  assert.is(r.status.source, PROC_NULL);
});

test('ANY_SOURCE and ANY_TAG report the real source and tag', () => {
  // On a dup: wildcards on world could match a message a faster rank sends in a later test.
  const c = world.dup();
  if (rank === 0) {
    const seen = new Map<number, number>();
    for (let i = 1; i < size; i++) {
      const b = new Int32Array(1);
      const st = c.recv(b, ANY_SOURCE, ANY_TAG);
      assert.is(b[0], st.source * 100);
      seen.set(st.source, st.tag);
    }
    for (let r = 1; r < size; r++) assert.is(seen.get(r), 1000 + r);
  } else {
    c.send(new Int32Array([rank * 100]), 0, 1000 + rank);
  }
  c.free();
});

test('truncation (10 elements into 4) is ERR_TRUNCATE, then the next message arrives intact', () => {
  if (size < 2) return;
  if (rank === 0) {
    world.send(new Float32Array(10).fill(1), 1, 20);
    world.send(new Float32Array([5, 6, 7, 8]), 1, 21);
  } else if (rank === 1) {
    const small = new Float32Array(4);
    const err = catchErr(() => world.recv(small, 0, 20));
    assert.instance(err, MpiError);
    assert.is((err as MpiError).code, 'ERR_TRUNCATE');
    assert.type((err as MpiError).errorClass, 'number');
    const st = world.recv(small, 0, 21);
    assert.equal(Array.from(small), [5, 6, 7, 8]);
    assert.is(st.tag, 21);
  }
});

test('receive of unknown size allocates exactly the message (blocking)', () => {
  if (size < 2) return;
  if (rank === 0) {
    world.send(new BigInt64Array([1n, -2n, 3n]), 1, 30);
    world.send(new Uint8Array(100_000).fill(3), 1, 31);
  } else if (rank === 1) {
    const a = world.recv('int64', 0, 30);
    assert.instance(a.data, BigInt64Array);
    assert.equal(Array.from(a.data), [1n, -2n, 3n]);
    assert.is(a.status.count, 3);
    const b = world.recv('uint8', ANY_SOURCE, ANY_TAG);
    assert.is(b.data.length, 100_000);
    assert.is(b.data[99_999], 3);
    assert.is(b.status.tag, 31);
  }
});

test('ssend, sendrecvReplace, probe and iprobe', () => {
  if (size < 2) return;
  if (rank === 0) {
    world.ssend(new Int16Array([1, 2, 3]), 1, 40);
    const x = new Int32Array([10, 20]);
    world.sendrecvReplace(x, 1, 1, 41, 42);
    assert.equal(Array.from(x), [30, 40]);
  } else if (rank === 1) {
    const st = world.probe(0, 40);
    assert.is(st.byteCount, 6);
    assert.is(st.getCount('int16'), 3);
    const found = world.iprobe(0, 40);
    assert.ok(found);
    assert.is(found!.source, 0);
    world.recv(new Int16Array(3), 0, 40);
    assert.is(world.iprobe(0, 40), undefined);
    const y = new Int32Array([30, 40]);
    world.sendrecvReplace(y, 0, 0, 42, 41);
    assert.equal(Array.from(y), [10, 20]);
  }
});

test('bad arguments are TypeError/RangeError before MPI, and the communicator keeps working', () => {
  const b = new Int32Array(1);
  const cases: [() => unknown, Function, string][] = [
    [() => world.send({} as any, 0), TypeError, 'ERR_INVALID_BUFFER'],
    [() => world.send([1, 2] as any, 0), TypeError, 'ERR_INVALID_BUFFER'],
    [() => world.send(b, size), RangeError, 'ERR_RANK'],
    [() => world.send(b, -5), RangeError, 'ERR_RANK'],
    [() => world.send(b, 0.5), TypeError, 'ERR_INVALID_RANK'],
    [() => world.recv(b, size + 3), RangeError, 'ERR_RANK'],
    [() => world.send(b, 0, -1), RangeError, 'ERR_TAG'],
    [() => world.send(b, 0, ANY_TAG), RangeError, 'ERR_TAG'],
    [() => world.send(b, 0, 2 ** 31), RangeError, 'ERR_TAG'],
    [() => world.recv(b, 0, -7), RangeError, 'ERR_TAG'],
    [() => world.recv('complex128' as any, 0), TypeError, ''],
    [() => world.isend(b, size), RangeError, 'ERR_RANK'],
    [() => world.irecv(b, 0, -2), RangeError, 'ERR_TAG'],
  ];
  const detached = new Float64Array(4);
  structuredClone(detached.buffer, { transfer: [detached.buffer] });
  cases.push([() => world.send(detached, 0), TypeError, 'ERR_DETACHED_BUFFER']);
  cases.push([() => world.recv(detached, 0), TypeError, 'ERR_DETACHED_BUFFER']);
  for (const [f, cls, code] of cases) {
    const e = catchErr(f);
    assert.instance(e, cls, String(f));
    if (code) assert.is((e as any).code, code, String(f));
  }
  // Still usable: a ring exchange.
  const out = new Int32Array([rank]), inp = new Int32Array(1);
  world.sendrecv(out, next, inp, prev, 50, 50);
  assert.is(inp[0], prev);
});

function catchErr(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new assert.Assertion({ message: 'expected an error', generated: false, operator: 'throws', expects: 'error', actual: 'none' });
}

test.run();
