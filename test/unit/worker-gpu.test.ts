// A worker_thread torn down while device operations are in flight, against the fake CUDA runtime
// (test/fakes/): the GPU poller must stop delivering completions to an environment whose JavaScript can
// no longer run, and the process must go on (no abort, no fatal error) with the main thread's own GPU
// work still completing. Each worker keeps asynchronous copies completing every millisecond or so, so
// that termination lands while completions are being swept and delivered.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import { buildFakes } from '../fakes/build.js';
import { gpu } from '../../lib/index.js';

// Before the first GPU call of any environment: the libraries load once per process, and the fake
// runtime reads its settings with getenv, so they go into the real (process-wide) environment here.
const fakes = buildFakes();
process.env.MPI4NODE_CUDART = fakes.cudart;
process.env.MPI4NODE_NCCL = fakes.nccl;
process.env.FAKE_CUDA_EVENT_DELAY_MS = '1';

const lib = new URL('../../lib/index.ts', import.meta.url).href;
const tsxApi = import.meta.resolve('tsx/esm/api');

// Keeps `streams` chains of asynchronous copies in flight, reports once completions flow, and then
// goes on until it is terminated.
function busyWorker(streams: number): Worker {
  const src = `import { parentPort } from 'node:worker_threads';
    (await import(${JSON.stringify(tsxApi)})).register();
    const { gpu } = await import(${JSON.stringify(lib)});
    let done = 0;
    const chain = (b, host) => b.copyFromAsync(host).then(() => { if (++done === ${2 * streams}) parentPort.postMessage('flowing'); chain(b, host); });
    for (let i = 0; i < ${streams}; i++) chain(new gpu.DeviceBuffer('float32', 256), new Float32Array(256).fill(i));`;
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(src)}`));
}

function terminateWhenFlowing(w: Worker): Promise<number> {
  return new Promise((resolve, reject) => {
    w.once('error', reject);
    w.once('message', () => {
      // A few more milliseconds of completions, then the teardown, at no particular point of a sweep.
      setTimeout(() => w.terminate().then(resolve, reject), Math.floor(Math.random() * 5));
    });
  });
}

test('workers terminated with GPU copies in flight exit cleanly; the main thread is unaffected', async () => {
  assert.ok(gpu.available(), gpu.status().reason);
  const mine = new gpu.DeviceBuffer('float64', 64);
  for (let round = 0; round < 10; round++) {
    const workers = [busyWorker(8), busyWorker(8), busyWorker(8)];
    const pending = mine.copyFromAsync(new Float64Array(64).fill(round));
    const codes = await Promise.all(workers.map(terminateWhenFlowing));
    for (const c of codes) assert.is(c, 1, 'terminate() resolves with exit code 1');
    await pending;
    assert.is((mine.toArray() as Float64Array)[63], round);
  }
  mine.dispose();
});

test.run();
