// bench/harness/versus.ts: which rows are behind mpi4py, and whether by more than chance. Synthetic
// records, no MPI: the orientation of times and rates, the sign test, and the pairing by repetition.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Results, type Rec } from '../../bench/harness/stats.js';
import { signTestP, versusMpi4py } from '../../bench/harness/versus.js';

function results(bench: string, unit: string, ours: string, theirs: string, pairs: [number, number][]): Results {
  const res = new Results();
  const rec = (rep: number, impl: string, value: number): Rec => ({
    rep, bench, impl, ranks: 2, size: 8, value, unit, pages: '4k', thread: 'single', iters: 1, warmup: 0,
  });
  pairs.forEach(([a, b], i) => {
    res.add(rec(i + 1, ours, a));
    res.add(rec(i + 1, theirs, b));
  });
  return res;
}

test('signTestP: the tail of a fair binomial', () => {
  assert.is(signTestP(0, 5), 1);
  assert.is(signTestP(5, 5), 1 / 32);
  assert.is(signTestP(4, 5), 6 / 32);
  assert.ok(Math.abs(signTestP(9, 10) - 11 / 1024) < 1e-12);
  assert.ok(Math.abs(signTestP(12, 15) - 576 / 32768) < 1e-12);
});

test('a time behind in every repetition is behind; the median is of per-repetition ratios', () => {
  const [v] = versusMpi4py(results('latency', 'us', 'mpi4node-blocking', 'mpi4py', [[2, 1], [3, 2], [1.1, 1], [4, 1], [2, 1.5]]));
  assert.is(v!.verdict, 'behind');
  assert.is(v!.behindIn, 5);
  assert.is(v!.n, 5);
  assert.is(v!.slowdown, 1.5);
  assert.is(v!.theirs, 'mpi4py');
});

test('a rate is better higher: the same numbers as MB/s are ahead', () => {
  const [v] = versusMpi4py(results('bw', 'MB/s', 'mpi4node-blocking', 'mpi4py', [[2, 1], [3, 2], [1.1, 1], [4, 1], [2, 1.5]]));
  assert.is(v!.verdict, 'ahead');
  assert.is(v!.behindIn, 0);
  assert.ok(Math.abs(v!.slowdown - 1 / 1.5) < 1e-12);
});

test('behind by the median in 3 of 5 repetitions is within chance', () => {
  const [v] = versusMpi4py(results('bw', 'MB/s', 'mpi4node-persistent', 'mpi4py-persistent', [[1, 2], [1, 2], [1, 2], [3, 1], [3, 1]]));
  assert.is(v!.verdict, 'behind, within chance');
  assert.is(v!.behindIn, 3);
  assert.is(v!.p, 0.5);
});

test('only the same calls are compared: a Promise form, or a repetition without mpi4py, is not', () => {
  assert.equal(versusMpi4py(results('latency', 'us', 'mpi4node-promise', 'mpi4py', [[2, 1]])), []);
  const res = results('latency', 'us', 'mpi4node-blocking', 'mpi4py', [[2, 1], [2, 1]]);
  res.add({ rep: 3, bench: 'latency', impl: 'mpi4node-blocking', ranks: 2, size: 8, value: 9, unit: 'us', pages: '4k', thread: 'single', iters: 1, warmup: 0 });
  assert.is(versusMpi4py(res)[0]!.n, 2);
});

test.run();
