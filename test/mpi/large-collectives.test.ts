// @ranks 2
// @timeout 600
// Collectives over more than 2^31 elements (derived-type counts, the library's reduction ops over them).
// Each rank needs about 6 GiB, so the suite runs only with MPI4NODE_TEST_LARGE=1.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { world, IN_PLACE } from '../../lib/index.js';

const enabled = process.env.MPI4NODE_TEST_LARGE === '1';
const t = enabled ? test : test.skip;
const rank = world.rank, size = world.size;
const N = 2 ** 31 + 8;
const MARKS = [0, 2 ** 30 - 1, 2 ** 30, 2 ** 31 - 1, 2 ** 31, N - 1];
const gc = () => (globalThis as any).gc?.();

t('bcast of 2^31 + 8 bytes', () => {
  const b = new Uint8Array(N);
  if (rank === 0) MARKS.forEach((m, k) => (b[m] = k + 1));
  world.bcast(b, 0);
  assert.equal(MARKS.map((m) => b[m]), MARKS.map((_, k) => k + 1));
  assert.is(b[12345], 0);
  gc();
});

t('allreduce in place over 2^31 + 8 int8 elements (sum wraps) and uint8 (max), blocking and Promise', async () => {
  const a = new Int8Array(N).fill(100);
  MARKS.forEach((m) => (a[m] = rank + 1));
  world.allreduce(IN_PLACE, 'sum', a);
  const tri = (size * (size + 1)) / 2;
  assert.equal(MARKS.map((m) => a[m]), MARKS.map(() => tri));
  assert.is(a[777], ((100 * size) << 24) >> 24);
  assert.is(a[N - 2], ((100 * size) << 24) >> 24);
  const u = new Uint8Array(a.buffer);
  u.fill(rank);
  MARKS.forEach((m) => (u[m] = 200 + rank));
  await world.iallreduce(IN_PLACE, 'max', u);
  assert.equal(MARKS.map((m) => u[m]), MARKS.map(() => 200 + size - 1));
  assert.is(u[N - 2], size - 1);
  gc();
});

test.run();
