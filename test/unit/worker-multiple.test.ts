// With MPI_THREAD_MULTIPLE requested, worker threads may call MPI themselves.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import { init, self } from '../../lib/index.js';

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

test.run();
