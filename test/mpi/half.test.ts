// float16 and bfloat16: conversions and reductions (the MPIs have no such types; the library's own ops
// over MPI_UINT16_T), checked against a reference written here from the definition of the formats:
// exact arithmetic on doubles, the float32 result of each step rounded to nearest, ties to even.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { world, toHalf, fromHalf, reduceLocal, IN_PLACE, type HalfDtype } from '../../lib/index.js';
import { FORMS, call, range, thrown } from './coll-util.js';

const rank = world.rank, size = world.size;
const KINDS: HalfDtype[] = ['float16', 'bfloat16'];

// ---- the reference: formats by their parameters ----

interface Format { mant: number; bias: number; expBits: number }
const FMT: Record<HalfDtype, Format> = { float16: { mant: 10, bias: 15, expBits: 5 }, bfloat16: { mant: 7, bias: 127, expBits: 8 } };

function pow2(e: number): number {
  return 2 ** e;
}

/** The value of half bits `h`. */
function decode(h: number, f: Format): number {
  const sign = h >> 15 ? -1 : 1;
  const e = (h >> f.mant) & ((1 << f.expBits) - 1);
  const m = h & ((1 << f.mant) - 1);
  if (e === (1 << f.expBits) - 1) return m ? NaN : sign * Infinity;
  if (e === 0) return sign * m * pow2(1 - f.bias - f.mant);
  return sign * (1 + m / pow2(f.mant)) * pow2(e - f.bias);
}

/** The bits of `x` (a float32 value) rounded to nearest even in format f; NaN gives NaN bits. */
function encode(x: number, f: Format): number {
  const inf = ((1 << f.expBits) - 1) << f.mant;
  if (Number.isNaN(x)) return inf | (1 << (f.mant - 1));
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  let a = Math.abs(x);
  if (a === Infinity) return sign | inf;
  const minExp = 1 - f.bias;
  let e = Math.max(minExp, Math.floor(Math.log2(a)));
  while (e > minExp && pow2(e) > a) e--;
  while (pow2(e + 1) <= a) e++;
  const ulp = pow2(e - f.mant);
  const q = a / ulp, fl = Math.floor(q), rest = q - fl;
  const r = rest > 0.5 || (rest === 0.5 && fl % 2 === 1) ? fl + 1 : fl;
  a = r * ulp;
  if (a >= pow2(f.bias + 1)) return sign | inf; // past the largest finite value
  if (a === 0) return sign;
  if (a < pow2(minExp)) return sign | (a / pow2(minExp - f.mant)); // subnormal
  let e2 = Math.floor(Math.log2(a));
  while (pow2(e2) > a) e2--;
  while (pow2(e2 + 1) <= a) e2++;
  return sign | ((e2 + f.bias) << f.mant) | (a / pow2(e2 - f.mant) - pow2(f.mant));
}

const sameBits = (got: number, want: number, f: Format) =>
  Number.isNaN(decode(want, f)) ? Number.isNaN(decode(got, f)) && (got & (1 << (f.mant - 1))) !== 0 : got === want;

// A deterministic spread of float32 values: every exponent, random mantissas, and the edges.
function samples(): Float32Array {
  let seed = 12345;
  const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  const bits = new Uint32Array(6000);
  for (let i = 0; i < bits.length; i++) bits[i] = rnd();
  const f = new Float32Array(bits.buffer);
  const edges = [0, -0, 1, -1, 65504, 65519.99, 65520, -65520, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 2 ** -26, 2 ** -14,
    1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 3.4e38, -3.4e38, 1e-45, 1.17e-38, Infinity, -Infinity, NaN,
    255.5, 256.5, 2049, 2051, 0.1, 1 / 3];
  return Float32Array.from([...edges, ...f]);
}
const SAMPLES = samples();

test('toHalf rounds every float32 to nearest even, as the reference does; fromHalf is exact', () => {
  for (const k of KINDS) {
    const f = FMT[k];
    const h = toHalf(SAMPLES, k);
    for (let i = 0; i < SAMPLES.length; i++) {
      const want = encode(SAMPLES[i]!, f);
      assert.ok(sameBits(h[i]!, want, f), `${k} ${SAMPLES[i]}: got 0x${h[i]!.toString(16)}, want 0x${want.toString(16)}`);
    }
    const back = fromHalf(h, k);
    for (let i = 0; i < h.length; i++) {
      const v = decode(h[i]!, f);
      assert.ok(Object.is(back[i], v) || (Number.isNaN(v) && Number.isNaN(back[i])), `${k} 0x${h[i]!.toString(16)}`);
    }
    // float64 input goes through float32, and a Float64Array destination holds the same values
    const h64 = toHalf(Float64Array.from(SAMPLES), k);
    assert.equal(Array.from(h64), Array.from(h));
    assert.equal(Array.from(fromHalf(h, k, new Float64Array(h.length))), Array.from(back));
  }
});

const OPS = ['sum', 'prod', 'min', 'max'] as const;
type HalfOp = (typeof OPS)[number];

// One step of the library's op, from the definition: float32 arithmetic, one rounding; min/max let a NaN
// win and put -0 below +0.
function step(op: HalfOp, a: number, b: number): number {
  switch (op) {
    case 'sum': return Math.fround(a + b);
    case 'prod': return Math.fround(a * b);
    default:
      if (Number.isNaN(a) || Number.isNaN(b)) return NaN;
      if (a === b) {
        if (a !== 0) return a;
        const negative = op === 'min' ? Object.is(a, -0) || Object.is(b, -0) : Object.is(a, -0) && Object.is(b, -0);
        return negative ? -0 : 0;
      }
      return op === 'min' ? Math.min(a, b) : Math.max(a, b);
  }
}

test('reduceLocal with { dtype }: each op is float32 arithmetic rounded once, over pairs of samples', () => {
  for (const k of KINDS) {
    const f = FMT[k];
    const a = toHalf(SAMPLES, k), b = toHalf(SAMPLES.slice().reverse(), k);
    for (const op of OPS) {
      const out = reduceLocal(a, b.slice(), op, { dtype: k });
      for (let i = 0; i < a.length; i++) {
        const want = encode(step(op, decode(a[i]!, f), decode(b[i]!, f)), f);
        assert.ok(sameBits(out[i]!, want, f),
          `${k} ${op}(${decode(a[i]!, f)}, ${decode(b[i]!, f)}): got 0x${out[i]!.toString(16)}, want 0x${want.toString(16)}`);
      }
    }
  }
});

// Values per rank for a collective over `op`: ranks 0 and 1 hold pairs whose combination rounds (ties,
// overflow, NaN, signed zeros); the others hold the op's identity, so the result is one step of the op
// whatever order MPI combines ranks in.
function rankValues(op: HalfOp, k: HalfDtype, r: number): Float32Array {
  const pairs: [number, number][] = k === 'float16'
    ? [[2048, 1], [2048, 3], [65504, 16], [65504, 65504], [1, 2 ** -11], [NaN, 1], [-0, 0], [0.1, 0.2], [3, -3], [-7, 5]]
    : [[256, 1], [256, 3], [3e38, 3e38], [1, 2 ** -8], [NaN, 1], [-0, 0], [0.1, 0.2], [3, -3], [-7, 5], [1e-40, 1e-40]];
  const identity = op === 'sum' ? -0 : op === 'prod' ? 1 : op === 'min' ? Infinity : -Infinity;
  return Float32Array.from(pairs, ([x, y]) => (r === 0 ? x : r === 1 ? y : identity));
}

function expected(op: HalfOp, k: HalfDtype): number[] {
  const f = FMT[k];
  const v = range(Math.min(size, 2), (r) => Array.from(toHalf(rankValues(op, k, r), k), (h) => decode(h, f)));
  return v[0]!.map((x, i) => encode(v.length === 1 ? x : step(op, x, v[1]![i]!), f));
}

for (const form of FORMS) {
  test(`allreduce and reduce with { dtype } (${form}): every op, one rounding, NaN and signed zeros`, async () => {
    for (const k of KINDS) {
      const f = FMT[k];
      for (const op of OPS) {
        const mine = toHalf(rankValues(op, k, rank), k);
        const want = expected(op, k);
        const all = await call(form, 'allreduce', mine, op, undefined, { dtype: k }) as Uint16Array;
        assert.instance(all, Uint16Array);
        for (let i = 0; i < want.length; i++) assert.ok(sameBits(all[i]!, want[i]!, f), `${k} ${op} [${i}]: 0x${all[i]!.toString(16)} vs 0x${want[i]!.toString(16)}`);
        const root = size - 1;
        const red = await call(form, 'reduce', mine, op, root, undefined, { dtype: k }) as Uint16Array | undefined;
        if (rank === root) assert.equal(Array.from(red!), Array.from(all));
        else assert.is(red, undefined);
      }
    }
  });

  test(`avg, scan and reduceScatterBlock with { dtype } (${form})`, async () => {
    for (const k of KINDS) {
      const f = FMT[k];
      // Small integers: every partial sum is exact, so only the division rounds.
      const mine = toHalf(Float32Array.from(range(size * 3), (i) => i + rank), k);
      const sum = range(size * 3, (i) => size * i + (size * (size - 1)) / 2);
      const avg = await call(form, 'allreduce', mine, 'avg', undefined, { dtype: k }) as Uint16Array;
      assert.equal(Array.from(avg), sum.map((s) => encode(Math.fround(s / size), f)), `${k} avg`);
      const inPlace = mine.slice();
      await call(form, 'allreduce', IN_PLACE, 'avg', inPlace, { dtype: k });
      assert.equal(Array.from(inPlace), Array.from(avg));
      const scan = await call(form, 'scan', mine, 'sum', undefined, { dtype: k }) as Uint16Array;
      assert.equal(Array.from(scan), range(size * 3, (i) => encode((rank + 1) * i + (rank * (rank + 1)) / 2, f)));
      const block = await call(form, 'reduceScatterBlock', mine, 'sum', undefined, { dtype: k }) as Uint16Array;
      assert.equal(Array.from(block), sum.slice(rank * 3, rank * 3 + 3).map((s) => encode(s, f)));
    }
  });
}

test('half dtypes: bad pairs are typed errors before MPI; Uint16Array without a dtype stays uint16', () => {
  const u = new Uint16Array([1, 2]);
  let e = thrown(() => world.allreduce(new Float32Array(2), 'sum', undefined, { dtype: 'float16' }));
  assert.instance(e, TypeError);
  assert.is(e.code, 'ERR_DTYPE_MISMATCH');
  e = thrown(() => world.allreduce(u, 'band', undefined, { dtype: 'bfloat16' }));
  assert.is(e.code, 'ERR_OP');
  e = thrown(() => world.iallreduce(u, 'sum', undefined, { dtype: 'float8' as never }));
  assert.is(e.code, 'ERR_INVALID_DTYPE');
  e = thrown(() => reduceLocal(u, u.slice(), 'avg', { dtype: 'float16' }));
  assert.is(e.code, 'ERR_OP');
  e = thrown(() => toHalf(new Float32Array(3), 'float16', new Uint16Array(2)));
  assert.is(e.code, 'ERR_BUFFER_TOO_SMALL');
  assert.is(thrown(() => toHalf([1] as never, 'float16')).code, 'ERR_INVALID_BUFFER');
  assert.is(thrown(() => fromHalf(u, 'float32' as never)).code, 'ERR_INVALID_DTYPE');
  // uint16 arithmetic without a dtype, as before
  assert.equal(Array.from(world.allreduce(u, 'sum')), [size, 2 * size].map((x) => x & 0xffff));
});

test.run();
