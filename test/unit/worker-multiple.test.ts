// With MPI_THREAD_MULTIPLE requested, worker threads may call MPI themselves.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import { finalize, init, self } from '../../lib/index.js';
import { native } from '../../lib/addon/binding.js';

test('a worker exchanges messages over MPI when the main thread asked for multiple', async () => {
  const level = init({ threadLevel: 'multiple' });
  if (level !== 'multiple') {
    console.log(`skipped: this MPI provides ${level}, not multiple`);
    return;
  }
  const src = `import { parentPort } from 'node:worker_threads';
    (await import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})).register();
    const m = await import(${JSON.stringify(new URL('../../lib/index.ts', import.meta.url).href)});
    const inp = new Float64Array(3);
    const r = m.self.irecv(inp, 0, 4);
    m.self.send(new Float64Array([1.5, 2.5, 3.5]), 0, 4);
    const st = await r;
    parentPort.postMessage({ data: Array.from(inp), source: st.source });`;
  const got = await new Promise<any>((resolve, reject) => {
    const w = new Worker(new URL(`data:text/javascript,${encodeURIComponent(src)}`));
    w.once('message', (m) => { resolve(m); void w.terminate(); });
    w.once('error', reject);
  });
  assert.equal(got.data, [1.5, 2.5, 3.5]);
  assert.is(got.source, 0);
  // The worker's addon made the fast calls leave their one-environment shortcut: the main thread's
  // small-buffer calls must still find their own addon.
  const out = new Int32Array([7, 8]), inp = new Int32Array(2);
  const req = self.irecv(inp, 0, 5);
  self.send(out, 0, 5);
  assert.is((await req).count, 2);
  assert.equal(Array.from(inp), [7, 8]);
});

// Each environment counts its own pending requests; finalize() and the exit path read the sum.
test("another thread's pending receive counts as pending until that thread ends, which cancels it", async () => {
  if (init({ threadLevel: 'multiple' }) !== 'multiple') return;
  assert.is(native.pending(), 0);
  const src = `import { parentPort } from 'node:worker_threads';
    (await import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})).register();
    const m = await import(${JSON.stringify(new URL('../../lib/index.ts', import.meta.url).href)});
    m.self.irecv(new Float64Array(1), 0, 77); // nobody sends it
    parentPort.postMessage('posted');`;
  const w = new Worker(new URL(`data:text/javascript,${encodeURIComponent(src)}`));
  await new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); });
  assert.is(native.pending(), 1, "the worker's receive");
  // This thread's own pending requests add to it.
  const mine = self.irecv(new Int32Array(1), 0, 78);
  assert.is(native.pending(), 2);
  assert.throws(() => finalize(), (e: Error & { code?: string }) => e.code === 'ERR_MPI_PENDING' && /2 request/.test(e.message));
  mine.cancel();
  await mine.catch(() => undefined);
  assert.is(native.pending(), 1);
  await w.terminate();
  const t0 = Date.now();
  while (native.pending() !== 0 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 10));
  assert.is(native.pending(), 0, "the ended worker's receive was cancelled, not left counted");
  // MPI stays usable here.
  const out = new Int32Array([3]), inp = new Int32Array(1);
  const req = self.irecv(inp, 0, 79);
  self.send(out, 0, 79);
  await req;
  assert.is(inp[0], 3);
});

// MPI must not write into a thread's memory once it has ended: its startAll batches' receives are
// cancelled too, so a message sent later goes to the receive that is still there.
test("an ended thread's startAll batch no longer takes messages", async () => {
  if (init({ threadLevel: 'multiple' }) !== 'multiple') return;
  const src = `import { parentPort } from 'node:worker_threads';
    (await import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})).register();
    const m = await import(${JSON.stringify(new URL('../../lib/index.ts', import.meta.url).href)});
    m.startAll([m.self.recvInit(new Float64Array(1), 0, 80), m.self.barrierInit()]); // nobody sends it
    parentPort.postMessage('started');`;
  const w = new Worker(new URL(`data:text/javascript,${encodeURIComponent(src)}`));
  await new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); });
  await w.terminate();
  const t0 = Date.now();
  while (native.pending() !== 0 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 10));
  const inp = new Float64Array(1);
  const req = self.irecv(inp, 0, 80);
  self.send(new Float64Array([4.5]), 0, 80);
  const timeout = new Promise<string>((r) => setTimeout(() => r('the message went to the ended thread\'s receive'), 10_000).unref());
  const got = await Promise.race([req.then(() => 'received'), timeout]);
  if (got !== 'received') req.cancel();
  assert.is(got, 'received');
  assert.is(inp[0], 4.5);
});

test.run();
