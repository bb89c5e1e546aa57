// With MPI_THREAD_MULTIPLE requested, worker threads may call MPI themselves.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import { init } from '../../lib/index.js';

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
});

test.run();
