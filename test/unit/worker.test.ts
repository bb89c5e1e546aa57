// The addon in worker_threads: it loads in each environment (per-environment state), MPI stays
// process-wide, and calling MPI from a worker without MPI_THREAD_MULTIPLE is a clear error, not a crash.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import { init, self, threadLevel, MpiError } from '../../lib/index.js';

function inWorker(code: string): Promise<any> {
  // A worker has a module loader of its own: register tsx there so it can import the TypeScript sources.
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const src = `import { parentPort } from 'node:worker_threads';
    (await import(${JSON.stringify(tsxApi)})).register();
    const m = await import(${JSON.stringify(new URL('../../lib/index.ts', import.meta.url).href)});
    try { parentPort.postMessage({ ok: await (async () => { ${code} })() }); }
    catch (e) { parentPort.postMessage({ err: { name: e.name, code: e.code, message: e.message } }); }`;
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL(`data:text/javascript,${encodeURIComponent(src)}`));
    w.once('message', (m) => { resolve(m); void w.terminate(); });
    w.once('error', reject);
  });
}

test('loads in a worker before MPI is initialised', async () => {
  const r = await inWorker('return m.libraryVersion()');
  assert.match(r.ok, /MPI/);
});

test('main thread initialises; a worker calling MPI gets ERR_THREAD_LEVEL and nothing breaks', async () => {
  assert.is(init({ threadLevel: 'funneled' }), threadLevel());
  const r = await inWorker('return m.world.size');
  assert.ok(r.err, JSON.stringify(r));
  assert.is(r.err.name, 'MpiError');
  assert.is(r.err.code, 'ERR_THREAD_LEVEL');
  assert.match(r.err.message, /threadLevel: 'multiple'/);
  // Main thread still works.
  const out = new Int32Array([5]), inp = new Int32Array(1);
  self.sendrecv(out, 0, inp, 0);
  assert.is(inp[0], 5);
  assert.instance(new MpiError('m', 'ERR_X', 1, 1), Error);
});

test('many workers load and exit without crashing the process', async () => {
  const results = await Promise.all(Array.from({ length: 4 }, () => inWorker('return m.wtick() > 0')));
  for (const r of results) assert.ok(r.ok === true || r.err?.code === 'ERR_THREAD_LEVEL' || r.err?.code === 'ERR_NOT_INITIALIZED', JSON.stringify(r));
});

test.run();
