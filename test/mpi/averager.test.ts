// The gradient averager (lib/train/averager.ts): buckets, the Promise and blocking forms, the
// parameter broadcast, half compression; every rank ends with the same bits.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { world, GradientAverager, toHalf, fromHalf } from '../../lib/index.js';
import { thrown } from '../thrown.js';

const rank = world.rank, size = world.size;

// Tensor i of rank r: element j is a value whose mean over the ranks is known exactly in float64.
const LENGTHS = [1, 3, 300, 17, 4096, 5, 1000, 2];
const value = (r: number, i: number, j: number) => (r + 1) * 0.25 + i - j * 0.5;
const mean = (i: number, j: number) => {
  let s = 0;
  for (let r = 0; r < size; r++) s += value(r, i, j);
  return s / size;
};

function tensors<T extends Float32Array | Float64Array>(ctor: new (n: number) => T): T[] {
  return LENGTHS.map((n, i) => {
    const a = new ctor(n);
    for (let j = 0; j < n; j++) a[j] = value(rank, i, j);
    return a;
  });
}

function averager(arrays: (Float32Array | Float64Array)[], options = {}) {
  const avg = new GradientAverager(world, options);
  arrays.forEach((a, i) => avg.register(`t${i}`, a));
  return avg;
}

/** Every rank holds the same bits in `arrays`. */
function sameEverywhere(arrays: (Float32Array | Float64Array)[]) {
  const mine = JSON.stringify(arrays.map((a) => Array.from(new Uint8Array(a.buffer, a.byteOffset, a.byteLength))));
  const all = world.allgatherObject(mine);
  for (let r = 0; r < size; r++) assert.ok(all[r] === all[0], `rank ${r}'s bits differ from rank 0's`);
}

test('buckets: consecutive arrays up to bucketBytes, an oversize array alone, a new bucket at a type change', () => {
  const a = [new Float32Array(10), new Float32Array(10), new Float32Array(100), new Float64Array(2), new Float32Array(1)];
  const avg = averager(a, { bucketBytes: 80 });
  assert.equal(avg.buckets, [['t0', 't1'], ['t2'], ['t3'], ['t4']]);
  assert.equal(averager([new Float32Array(10), new Float32Array(10)]).buckets, [['t0', 't1']], '25 MiB by default');
});

for (const [name, ctor] of [['Float64Array', Float64Array], ['Float32Array', Float32Array]] as const) {
  for (const form of ['average', 'averageSync'] as const) {
    test(`${form} of ${name}s in small buckets: the mean of every element, the same bits on every rank`, async () => {
      const arrays = tensors(ctor as never) as (Float32Array | Float64Array)[];
      const avg = averager(arrays, { bucketBytes: 1024 });
      assert.ok(avg.buckets.length > 3);
      for (let step = 0; step < 2; step++) {
        if (form === 'average') await avg.average();
        else avg.averageSync();
        arrays.forEach((a, i) => {
          for (let j = 0; j < a.length; j++) {
            const want = step === 0 ? mean(i, j) : mean(i, j); // the mean of equal values is that value
            assert.ok(Math.abs(a[j]! - want) <= Math.abs(want) * 1e-6 + 1e-6, `t${i}[${j}] = ${a[j]}, want ${want}`);
          }
        });
        sameEverywhere(arrays);
      }
    });
  }
}

test('average() of one large bucket and of one element per bucket agree bitwise for float64', async () => {
  const one = tensors(Float64Array), many = tensors(Float64Array);
  await averager(one).average();
  await averager(many, { bucketBytes: 1 }).average();
  one.forEach((a, i) => assert.equal(Array.from(a), Array.from(many[i]!)));
});

test('arrays laid end to end in one buffer are reduced where they are: the same bits as separate arrays', async () => {
  const separate = tensors(Float32Array);
  const whole = new Float32Array(LENGTHS.reduce((a, b) => a + b, 0) + 1);
  let at = 1; // views from a non-zero offset, with a gap-free run after it
  const views = separate.map((a) => {
    const v = whole.subarray(at, at + a.length);
    v.set(a);
    at += a.length;
    return v;
  });
  await averager(separate).average();
  const avg = averager(views, { bucketBytes: 4096 });
  await avg.average();
  views.forEach((v, i) => assert.equal(Array.from(v), Array.from(separate[i]!), `t${i}`));
  assert.is(whole[0], 0, 'memory outside the views untouched');
  // The blocking form too, from the same starting values.
  views.forEach((v, i) => v.set(tensors(Float32Array)[i]!));
  avg.averageSync();
  views.forEach((v, i) => assert.equal(Array.from(v), Array.from(separate[i]!), `averageSync t${i}`));
  sameEverywhere(views);
});

for (const kind of ['float16', 'bfloat16'] as const) {
  test(`${kind} compression: the mean of the half-rounded values, within the half type's rounding, same bits everywhere`, async () => {
    const arrays = tensors(Float32Array);
    const sent = arrays.map((a) => fromHalf(toHalf(a, kind), kind)); // what goes on the wire
    const avg = averager(arrays, { compression: kind, bucketBytes: 4096 });
    await avg.average();
    const eps = kind === 'float16' ? 2 ** -10 : 2 ** -7;
    arrays.forEach((a, i) => {
      for (let j = 0; j < a.length; j++) {
        // Reference: the exact mean of every rank's half-rounded value (each rank's computed here).
        let s = 0;
        for (let r = 0; r < size; r++) s += Math.fround(fromHalf(toHalf(new Float32Array([value(r, i, j)]), kind), kind)[0]!);
        const want = s / size;
        // Each combination and the division round once to the half type.
        const tol = (Math.abs(want) + Math.abs(sent[i]![j]!) + 1) * eps * (size + 1);
        assert.ok(Math.abs(a[j]! - want) <= tol, `${kind} t${i}[${j}] = ${a[j]}, want ${want}`);
      }
    });
    sameEverywhere(arrays);
  });
}

test('broadcastParameters: every rank gets the root\'s values, in every bucket', () => {
  for (const root of [0, size - 1]) {
    const arrays = tensors(Float32Array);
    averager(arrays, { bucketBytes: 100 }).broadcastParameters(root);
    arrays.forEach((a, i) => {
      for (let j = 0; j < a.length; j++) assert.is(a[j], Math.fround(value(root, i, j)));
    });
  }
});

test('bad arguments are coded errors before any communication; the process stays usable', async () => {
  const e1 = thrown(() => new GradientAverager(world, { bucketBytes: 0 }));
  assert.instance(e1, RangeError);
  assert.is(e1.code, 'ERR_INVALID_ARG_VALUE');
  assert.is(thrown(() => new GradientAverager(world, { compression: 'fp8' as never })).code, 'ERR_INVALID_ARG_VALUE');
  const avg = new GradientAverager(world, { compression: 'bfloat16' });
  assert.is(thrown(() => avg.register('x', new Int32Array(2) as never)).code, 'ERR_INVALID_BUFFER');
  assert.is(thrown(() => avg.register('x', new Float64Array(2))).code, 'ERR_INVALID_DTYPE');
  assert.is(thrown(() => avg.register('', new Float32Array(2))).code, 'ERR_INVALID_ARG_TYPE');
  avg.register('x', new Float32Array(2));
  assert.is(thrown(() => avg.register('x', new Float32Array(2))).code, 'ERR_INVALID_ARG_VALUE');
  assert.is(thrown(() => new GradientAverager(world).averageSync()).code, 'ERR_INVALID_ARG_VALUE');
  assert.is(thrown(() => avg.broadcastParameters(size)).code, 'ERR_ROOT');
  // Ranks that registered other lengths: every rank learns it, nobody hangs.
  const odd = new GradientAverager(world).register('w', new Float32Array(rank === size - 1 && size > 1 ? 3 : 2));
  if (size > 1) {
    const e = await odd.average().then(() => undefined, (x) => x);
    assert.is(e?.code, 'ERR_LENGTH_MISMATCH');
  }
  const p = avg.average();
  assert.is(thrown(() => avg.averageSync()).code, 'ERR_BUFFER_BUSY');
  await p;
});

test.run();
