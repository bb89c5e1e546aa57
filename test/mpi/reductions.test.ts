// Reductions under mpirun with 1-4 ranks: every dtype x op pair MPI defines, checked against the same
// fold computed here with C semantics (wrap-around integer arithmetic, float32 rounding at each step),
// with values where an overflow, a wrong element type or a NaN would show; the TypeError for pairs MPI
// does not define; avg; user-defined ops.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { world, createOp, IN_PLACE, type OpName, type TypedArray } from '../../lib/index.js';
import { FORMS, arr, call, range, rejects, thrown } from './coll-util.js';

const rank = world.rank, size = world.size;

interface T { name: string; ctor: any; bits: number; signed: boolean; float: boolean; big: boolean }
const TYPES: T[] = [
  { name: 'int8', ctor: Int8Array, bits: 8, signed: true, float: false, big: false },
  { name: 'uint8', ctor: Uint8Array, bits: 8, signed: false, float: false, big: false },
  { name: 'uint8clamped', ctor: Uint8ClampedArray, bits: 8, signed: false, float: false, big: false },
  { name: 'int16', ctor: Int16Array, bits: 16, signed: true, float: false, big: false },
  { name: 'uint16', ctor: Uint16Array, bits: 16, signed: false, float: false, big: false },
  { name: 'int32', ctor: Int32Array, bits: 32, signed: true, float: false, big: false },
  { name: 'uint32', ctor: Uint32Array, bits: 32, signed: false, float: false, big: false },
  { name: 'int64', ctor: BigInt64Array, bits: 64, signed: true, float: false, big: true },
  { name: 'uint64', ctor: BigUint64Array, bits: 64, signed: false, float: false, big: true },
  { name: 'float32', ctor: Float32Array, bits: 32, signed: true, float: true, big: false },
  { name: 'float64', ctor: Float64Array, bits: 64, signed: true, float: true, big: false },
];
const ALL_OPS: OpName[] = ['sum', 'prod', 'min', 'max', 'land', 'lor', 'lxor', 'band', 'bor', 'bxor'];
const defined = (t: T, op: OpName) =>
  t.float ? ['sum', 'prod', 'min', 'max'].includes(op) : !(t.name === 'uint8clamped' && (op === 'sum' || op === 'prod'));

// ---- values: edges that expose wrap-around, sign and width mistakes ----

function intEdges(t: T): bigint[] {
  const b = BigInt(t.bits);
  const min = t.signed ? -(1n << (b - 1n)) : 0n, max = t.signed ? (1n << (b - 1n)) - 1n : (1n << b) - 1n;
  const pattern = BigInt.asUintN(t.bits, 0x5555555555555555n) & max;
  const e = [min, max, 0n, 1n, 2n, 3n, 7n, 100n, max - 1n, pattern, 1n << (b - 2n)];
  if (t.signed) e.push(-1n, -2n, -100n, min + 1n);
  else e.push(1n << (b - 1n), BigInt.asUintN(t.bits, ~pattern));
  if (t.bits >= 16) e.push(256n, 0x100n << (b - 16n)); // nonzero with a zero low byte
  return e;
}
// Regular float values are dyadic with few mantissa bits, so every sum and product is exact and the
// result does not depend on the order MPI combines ranks in.
const FLOATS = [0.5, -1.75, 3, 1024, -2048, 0.125, 5, -0.25, 2, 7, -3, 1];
const REGULAR = 24;
// Special float columns, the same on every rank (or controlled), so the result is order-independent.
function floatSpecial(t: T, col: number, r: number): number {
  const big = t.bits === 32 ? 3e38 : 1e308;
  const tiny = t.bits === 32 ? 1e-45 : 5e-324;
  switch (col) {
    case 0: return NaN;
    case 1: return Infinity;
    case 2: return -Infinity;
    case 3: return big; // the sum overflows to Infinity from 2 ranks on
    case 4: return tiny;
    default: return r === 0 ? Infinity : r === 1 ? -Infinity : 2; // sum NaN, max Inf, min -Inf
  }
}
const SPECIAL = 6;

function values(t: T, r: number): TypedArray {
  if (t.float) {
    const a = new t.ctor(REGULAR + SPECIAL);
    for (let i = 0; i < REGULAR; i++) a[i] = FLOATS[(i + 5 * r) % FLOATS.length]!;
    for (let c = 0; c < SPECIAL; c++) a[REGULAR + c] = floatSpecial(t, c, r);
    return a;
  }
  const e = intEdges(t);
  const a = new t.ctor(2 * e.length);
  for (let i = 0; i < a.length; i++) {
    const v = e[(i + 3 * r + (i >= e.length ? r : 0)) % e.length]!;
    a[i] = t.big ? v : Number(v);
  }
  return a;
}

// ---- the fold, with C semantics ----

function combine(t: T, op: OpName, a: any, b: any): any {
  if (t.float) {
    const f = t.bits === 32 ? Math.fround : (x: number) => x;
    switch (op) {
      case 'sum': return f(a + b);
      case 'prod': return f(a * b);
      case 'max': return b > a ? b : a; // Open MPI: (a > b) ? a : b, on non-NaN data the same
      default: return b < a ? b : a;
    }
  }
  const x = BigInt(a), y = BigInt(b);
  const wrap = (v: bigint) => (t.signed ? BigInt.asIntN(t.bits, v) : BigInt.asUintN(t.bits, v));
  let v: bigint;
  switch (op) {
    case 'sum': v = wrap(x + y); break;
    case 'prod': v = wrap(x * y); break;
    case 'max': v = x > y ? x : y; break;
    case 'min': v = x < y ? x : y; break;
    case 'land': v = x !== 0n && y !== 0n ? 1n : 0n; break;
    case 'lor': v = x !== 0n || y !== 0n ? 1n : 0n; break;
    case 'lxor': v = (x !== 0n) !== (y !== 0n) ? 1n : 0n; break;
    case 'band': v = wrap(x & y); break;
    case 'bor': v = wrap(x | y); break;
    default: v = wrap(x ^ y);
  }
  return t.big ? v : Number(v);
}

/** op over the values of ranks from..to-1, element by element, in rank order (a single rank: as is). */
function fold(t: T, op: OpName, from: number, to: number): unknown[] {
  const acc = arr(values(t, from));
  for (let r = from + 1; r < to; r++) {
    const v = arr(values(t, r));
    for (let i = 0; i < acc.length; i++) acc[i] = combine(t, op, acc[i], v[i]);
  }
  return acc;
}

const show = (a: unknown[]) => a.map((v) => (typeof v === 'number' && Number.isNaN(v) ? 'NaN' : v));

test('every dtype x op pair MPI defines: allreduce (both forms), reduce, scan, exscan, reduceScatterBlock', async () => {
  let pairs = 0;
  for (const t of TYPES) {
    for (const op of ALL_OPS) {
      if (!defined(t, op)) continue;
      pairs++;
      const want = show(fold(t, op, 0, size));
      const label = `${t.name} ${op}`;
      for (const form of FORMS) {
        assert.equal(show(arr(await call(form, 'allreduce', values(t, rank), op))), want, `${form} allreduce ${label}`);
      }
      const root = size - 1;
      const red = world.reduce(values(t, rank), op, root);
      if (rank === root) assert.equal(show(arr(red!)), want, `reduce ${label}`);
      assert.equal(show(arr(await world.iscan(values(t, rank), op))), show(fold(t, op, 0, rank + 1)), `scan ${label}`);
      const ex = world.exscan(values(t, rank), op);
      if (rank > 0) assert.equal(show(arr(ex)), show(fold(t, op, 0, rank)), `exscan ${label}`);
      // reduceScatterBlock: the whole vector on every rank, one copy per block
      const one = values(t, rank);
      const rep = new t.ctor(one.length * size);
      for (let k = 0; k < size; k++) rep.set(one as any, k * one.length);
      assert.equal(show(arr(world.reduceScatterBlock(rep, op))), want, `reduceScatterBlock ${label}`);
    }
  }
  assert.is(pairs, 8 * 10 + 8 + 2 * 4); // 8 integer types x 10 ops, Uint8ClampedArray x 8, 2 float types x 4
});

test('pairs MPI does not define are a TypeError ERR_OP before MPI is called', () => {
  for (const t of TYPES) {
    for (const op of [...ALL_OPS, 'avg'] as OpName[]) {
      const ok = op === 'avg' ? t.float : defined(t, op);
      if (ok) continue;
      rejects('allreduce', [new t.ctor(2), op], TypeError, 'ERR_OP');
      rejects('reduce', [new t.ctor(2), op, 0], TypeError, 'ERR_OP');
    }
  }
  const e = thrown(() => world.allreduce(new Float64Array(1), 'band'));
  assert.match(e.message, /band/);
  assert.match(e.message, /float64/);
  assert.equal(arr(world.allreduce(new Int8Array([1]))), [size], 'still usable');
});

test('overflow wraps like C: int8 and int32 sums, uint8 product, uint64 sum, float32 sum to Infinity', () => {
  const wrap8 = (v: number) => ((v << 24) >> 24);
  assert.equal(arr(world.allreduce(new Int8Array([100, -100, 127]))), [wrap8(100 * size), wrap8(-100 * size), wrap8(127 * size)]);
  assert.equal(arr(world.allreduce(new Int32Array([2 ** 30, -(2 ** 31)]))), [(2 ** 30 * size) | 0, (-(2 ** 31) * size) | 0]);
  assert.equal(arr(world.allreduce(new Uint8Array([200, 255]), 'prod')), [Number(200n ** BigInt(size) % 256n), Number(255n ** BigInt(size) % 256n)]);
  assert.equal(arr(world.allreduce(new BigUint64Array([2n ** 63n + 1n]))), [BigInt.asUintN(64, (2n ** 63n + 1n) * BigInt(size))]);
  assert.equal(arr(world.allreduce(new BigInt64Array([-(2n ** 63n)]), 'min')), [-(2n ** 63n)]);
  assert.equal(arr(world.allreduce(new Uint32Array([2 ** 32 - 1, 1]), 'max')), [2 ** 32 - 1, 1], 'unsigned compare');
  const f = world.allreduce(new Float32Array([3e38]));
  assert.is(f[0], size === 1 ? Math.fround(3e38) : Infinity);
});

test('NaN: sum and prod propagate it; max/min propagate a NaN present on every rank, not one on some ranks only', () => {
  for (const C of [Float32Array, Float64Array]) {
    const x = new C(20).fill(rank === 0 ? NaN : 1);
    assert.ok(arr(world.allreduce(x, 'sum')).every(Number.isNaN), 'sum');
    assert.ok(arr(world.allreduce(x, 'prod')).every(Number.isNaN), 'prod');
    assert.ok(arr(world.allreduce(new C(20).fill(NaN), 'max')).every(Number.isNaN), 'max, NaN everywhere');
    // Open MPI's max/min are C comparisons, (a > b ? a : b) or a vector max instruction: whether a NaN
    // survives depends on the operand order and on the element's position, so only this is certain.
    const m = arr(world.allreduce(x, 'max'));
    for (const v of m) assert.ok(Number.isNaN(v) || (size > 1 && v === 1), `max with one NaN: ${v}`);
  }
});

test('avg (sum, then divided by size) on float32 and float64, both forms, reduce, reduceScatterBlock, in place', async () => {
  for (const C of [Float32Array, Float64Array]) {
    for (const form of FORMS) {
      const a = await call(form, 'allreduce', new C(range(8)), 'avg');
      assert.equal(arr(a), range(8));
      const b = await call(form, 'allreduce', new C([rank, 0.1]), 'avg');
      assert.equal(arr(b), [(size - 1) / 2, expectedAvg01(C)]);
      const recv = new C(4).fill(-8);
      const r = await call(form, 'reduce', new C([rank + 1, 2]), 'avg', 0, recv);
      if (rank === 0) assert.equal(arr(r), [(size + 1) / 2, 2, -8, -8], 'only the result elements are divided');
      else assert.equal(arr(recv), [-8, -8, -8, -8], 'non-root untouched');
      const rsb = await call(form, 'reduceScatterBlock', new C(range(size, (k) => k * 3 + rank)), 'avg');
      assert.equal(arr(rsb), [rank * 3 + (size - 1) / 2]);
    }
    const buf = new C([rank * 2, 4]);
    world.allreduce(IN_PLACE, 'avg', buf);
    assert.equal(arr(buf), [size - 1, 4]);
    rejects('allreduce', [new Int32Array(1), 'avg'], TypeError, 'ERR_OP');
  }
});

// 0.1 summed size times in the array's precision, then divided the same way.
function expectedAvg01(C: any): number {
  if (C === Float64Array) {
    let s = 0.1;
    for (let r = 1; r < size; r++) s += 0.1;
    return s / size;
  }
  const f = Math.fround;
  let s = f(0.1);
  for (let r = 1; r < size; r++) s = f(s + f(0.1));
  return f(s / size);
}

// ---- user-defined ops ----

const absMax = createOp<Float64Array>((a, b) => {
  for (let i = 0; i < a.length; i++) b[i] = Math.max(Math.abs(a[i]!), Math.abs(b[i]!));
}, { commutative: true });

// Digit concatenation: associative, not commutative; the result spells the ranks' digits in rank order.
const concat = createOp<Float64Array>((a, b) => {
  for (let i = 0; i < a.length; i++) b[i] = a[i]! * 10 ** (Math.floor(Math.log10(b[i]!)) + 1) + b[i]!;
});
const digit = (r: number, i: number) => ((r + i) % 9) + 1;
const spelled = (from: number, to: number, i: number) => Number(range(to - from, (k) => digit(from + k, i)).join(''));

test('user-defined commutative op (max of absolute values), blocking forms, small and large arrays', () => {
  for (const n of [5, 100_000]) {
    const x = new Float64Array(n);
    for (let i = 0; i < n; i++) x[i] = (rank % 2 ? -1 : 1) * ((rank * 7 + i) % 13);
    // with one rank MPI never applies the op: the result is the data as is
    const want = range(n, (i) => (size === 1 ? x[i]! : Math.max(...range(size, (r) => (r * 7 + i) % 13))));
    assert.equal(arr(world.allreduce(x, absMax)), want, `allreduce n=${n}`);
    const red = world.reduce(x, absMax, size - 1);
    if (rank === size - 1) assert.equal(arr(red!), want);
  }
});

test('user-defined non-commutative op is applied in rank order (allreduce, reduce at each root, scan, exscan, reduceScatterBlock)', () => {
  const n = 12;
  const mine = new Float64Array(range(n, (i) => digit(rank, i)));
  assert.equal(arr(world.allreduce(mine, concat)), range(n, (i) => spelled(0, size, i)));
  for (let root = 0; root < size; root++) {
    const r = world.reduce(mine, concat, root);
    if (rank === root) assert.equal(arr(r!), range(n, (i) => spelled(0, size, i)));
  }
  assert.equal(arr(world.scan(mine, concat)), range(n, (i) => spelled(0, rank + 1, i)));
  const ex = world.exscan(mine, concat);
  if (rank > 0) assert.equal(arr(ex), range(n, (i) => spelled(0, rank, i)));
  const rep = new Float64Array(n * size);
  for (let k = 0; k < size; k++) rep.set(mine, k * n);
  assert.equal(arr(world.reduceScatterBlock(rep, concat)), range(n, (i) => spelled(0, size, i)));
  const bare = world.allreduce(mine, (a: Float64Array, b: Float64Array) => {
    for (let i = 0; i < a.length; i++) b[i] = a[i]! * 10 ** (Math.floor(Math.log10(b[i]!)) + 1) + b[i]!;
  });
  assert.equal(arr(bare), range(n, (i) => spelled(0, size, i)), 'a bare function is a non-commutative op');
});

test('user-defined ops on integer and bigint arrays see arrays of the same type', () => {
  let seen = '';
  const wrapSum = createOp<BigInt64Array>((a, b) => {
    seen = a.constructor.name;
    for (let i = 0; i < a.length; i++) b[i] = BigInt.asIntN(64, a[i]! + b[i]!);
  }, { commutative: true });
  const out = world.allreduce(new BigInt64Array([2n ** 62n, -5n]), wrapSum);
  assert.equal(arr(out), [BigInt.asIntN(64, 2n ** 62n * BigInt(size)), -5n * BigInt(size)]);
  // Not every rank applies the op (with 3 ranks one only forwards its data), so a rank may see nothing.
  assert.ok(seen === '' || seen === 'BigInt64Array', seen);
  const i16 = world.allreduce(new Int16Array([rank, -rank]), createOp<Int16Array>((a, b) => {
    for (let i = 0; i < a.length; i++) b[i] = a[i]! > b[i]! ? a[i]! : b[i]!;
  }));
  assert.equal(arr(i16), [size - 1, 0]);
});

test('a user op that throws: the error reaches the caller after MPI completes; the communicator stays usable', () => {
  let caught: any;
  try {
    world.allreduce(new Float64Array(4).fill(1), createOp(() => { throw new Error('boom'); }, { commutative: true }));
  } catch (e) {
    caught = e;
  }
  if (caught !== undefined) assert.is(caught.message, 'boom');
  const anyCaught = world.allreduce(new Int32Array([caught ? 1 : 0]), 'max')[0];
  assert.is(anyCaught, size > 1 ? 1 : 0, 'some rank applied the op and saw the error');
  assert.equal(arr(world.allreduce(new Float64Array([1]))), [size]);
});

test('Promise forms reject user-defined ops with an error saying to use the blocking form', async () => {
  for (const name of ['iallreduce', 'iscan', 'iexscan', 'ireduceScatterBlock']) {
    const req = (world as any)[name](new Float64Array(2 * size), absMax);
    const err = await req.then(() => undefined, (e: any) => e);
    assert.ok(err, `${name} rejected`);
    assert.is(err.code, 'ERR_OP');
    assert.match(err.message, /blocking form/);
  }
  const r = world.ireduce(new Float64Array(2), absMax, 0);
  assert.throws(() => r.wait(), /blocking form/);
  const e2 = await world.ireduceScatter(new Float64Array(size), range(size, () => 1), absMax).catch((e) => e);
  assert.is(e2.code, 'ERR_OP');
  rejects('allreduce', [new Float64Array(1), {}], TypeError, 'ERR_OP');
  assert.throws(() => createOp(42 as any), /function/);
  assert.equal(arr(await world.iallreduce(new Float64Array([1]))), [size], 'still usable');
});

test.run();
