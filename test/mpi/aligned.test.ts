// alignedArray (lib/core/alloc.ts): page-aligned memory for large messages, at 1-4 ranks. What is
// checked: the array it gives (type, length, zeroed), bad inputs as typed errors, messages and
// one-sided operations from and into such arrays, and that dropped arrays give their memory back.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { alignedArray, world } from '../../lib/index.js';
import { thrown } from './coll-util.js';

const rank = world.rank, size = world.size;

test('a zeroed typed array of the dtype and count; float16 as Uint16Array; count 0 is empty', () => {
  const f = alignedArray('float64', 1000);
  assert.instance(f, Float64Array);
  assert.is(f.length, 1000);
  assert.is(f.byteOffset, 0);
  assert.ok(f.every((x) => x === 0));
  assert.instance(alignedArray('float16', 3), Uint16Array);
  assert.instance(alignedArray('int64', 2), BigInt64Array);
  assert.is(alignedArray('uint8', 0).length, 0);
});

test('bad dtype and count are typed errors; the process goes on', () => {
  assert.is((thrown(() => alignedArray('float128' as never, 4)) as { code?: string }).code, 'ERR_INVALID_DTYPE');
  for (const bad of [-1, 1.5, NaN, '4', undefined]) {
    const e = thrown(() => alignedArray('uint8', bad as never));
    assert.instance(e, RangeError);
    assert.is((e as { code?: string }).code, 'ERR_INVALID_LENGTH');
  }
  assert.is(alignedArray('uint8', 8).length, 8);
});

test('a ring of 256 KiB messages from and into aligned arrays, and a 1 MiB get from a window', () => {
  const n = 32768; // float64: 256 KiB
  const out = alignedArray('float64', n), into = alignedArray('float64', n);
  for (let i = 0; i < n; i++) out[i] = rank * 1e6 + i;
  const next = (rank + 1) % size, prev = (rank + size - 1) % size;
  const r = world.irecv(into, prev, 5);
  world.send(out, next, 5);
  r.wait();
  for (const i of [0, 1, n >> 1, n - 1]) assert.is(into[i], prev * 1e6 + i);

  const win = world.allocateWindow('uint8', 1 << 20);
  win.memory.fill(rank + 1);
  world.barrier();
  const got = alignedArray('uint8', 1 << 20);
  win.lock(next, 'shared');
  win.get(got, next, 0);
  win.unlock(next);
  assert.ok(got.every((x) => x === next + 1), 'every byte of the target window');
  world.barrier();
  win.free();
});

test('dropped arrays give their memory back (24 x 32 MiB with the event loop turning)', async () => {
  const before = process.memoryUsage().rss;
  for (let i = 0; i < 24; i++) {
    const a = alignedArray('uint8', 32 << 20);
    a[a.length - 1] = 1;
    await new Promise((res) => setImmediate(res));
  }
  const grew = process.memoryUsage().rss - before;
  assert.ok(grew < 512 * 2 ** 20, `RSS grew ${(grew / 2 ** 20).toFixed(0)} MiB for 768 MiB allocated`);
});

test.run();
