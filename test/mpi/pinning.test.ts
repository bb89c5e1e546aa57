// Memory handed to MPI stays valid until the operation completes, whatever JavaScript does to it
// meanwhile: transferring (detaching) the ArrayBuffer of an operation in flight, by structuredClone or a
// worker's postMessage, must neither crash the process nor lose or corrupt data (MPI-4.1 §3.7.2: the
// buffer of a pending operation must not be accessed). A detached buffer passed in is a typed error.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import { world, MpiError, type Tensor } from '../../lib/index.js';

const rank = world.rank, size = world.size;
// Rank 0 sends to rank 1 (one rank: to itself); the others only join the barriers.
const receiver = size === 1 ? 0 : 1;
const isSender = rank === 0, isReceiver = rank === receiver, bystander = !isSender && !isReceiver;
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const N = 1 << 20; // 8 MiB of float64: far above every eager limit, so the send waits for its receiver
let tag = 700;

/** Tries to take `buf` away from its array the two ways JavaScript can; the clone is dropped and collected. */
function pullOut(buf: ArrayBuffer): void {
  try {
    structuredClone(buf, { transfer: [buf] });
  } catch (e) {
    // Node >= 21 refuses to transfer an untransferable buffer (DataCloneError): also fine.
    assert.is((e as Error).name, 'DataCloneError', String(e));
  }
  gc();
  gc();
}

const filled = () => Float64Array.from({ length: N }, (_, i) => i + 0.5);
function checkFilled(a: Float64Array, what: string) {
  assert.is(a.length, N, `${what}: still attached`);
  let bad = 0;
  for (let i = 0; i < N; i++) if (a[i] !== i + 0.5) bad++;
  assert.is(bad, 0, `${what}: ${bad} corrupted elements`);
}

test('transferring the buffer of an isend in flight: no crash, every element arrives', async () => {
  const t = tag++;
  if (bystander) return void world.barrier();
  const send = isSender ? filled() : undefined;
  const s = send ? world.isend(send, receiver, t) : undefined;
  if (send) pullOut(send.buffer as ArrayBuffer);
  world.barrier();
  if (isReceiver) {
    const got = await world.irecv('float64', 0, t);
    checkFilled(got.data, 'received');
  }
  if (s) await s;
  if (send) checkFilled(send, 'sent array');
});

test('transferring the buffer of an irecv in flight: the message lands in the receiver\'s array', async () => {
  const t = tag++;
  if (bystander) return void world.barrier();
  const inp = isReceiver ? new Float64Array(N) : undefined;
  const r = inp ? world.irecv(inp, 0, t) : undefined;
  if (inp) pullOut(inp.buffer as ArrayBuffer);
  world.barrier();
  const s = isSender ? world.isend(filled(), receiver, t) : undefined;
  if (r) await r;
  if (s) await s;
  if (inp) checkFilled(inp, 'receive buffer');
});

test('transferring the buffers of a nonblocking collective in flight', async () => {
  const a = new Float64Array(N).fill(rank + 1);
  const out = new Float64Array(N);
  const r = world.iallreduce(a, 'sum', out);
  pullOut(a.buffer as ArrayBuffer);
  pullOut(out.buffer as ArrayBuffer);
  await r;
  const want = (size * (size + 1)) / 2;
  assert.is(out.length, N);
  assert.ok(out.every((v) => v === want), 'every element is the sum');
});

test('transferring the payload of a channel isend in flight', async () => {
  const ch = world.channel('pinning/payload', { version: '1.0' });
  if (bystander) return void world.barrier();
  const send = isSender ? filled() : undefined;
  const s = send ? ch.isend(receiver, send) : undefined;
  if (send) pullOut(send.buffer as ArrayBuffer);
  world.barrier();
  if (isReceiver) checkFilled((await ch.irecv<Tensor<Float64Array>>(0)).message.data, 'channel message');
  if (s) await s;
});

test('posting an in-flight buffer to a worker with transfer: the worker gets a copy, MPI keeps its memory', async () => {
  const t = tag++;
  if (bystander) return void world.barrier();
  const inp = isReceiver ? new Float64Array(N) : undefined;
  const r = inp ? world.irecv(inp, 0, t) : undefined;
  if (inp) {
    const w = new Worker('require("node:worker_threads").parentPort.once("message", (m) => { m[0] = -1; process.exit(0); })', { eval: true });
    try {
      w.postMessage(inp, [inp.buffer]);
    } catch (e) {
      assert.is((e as Error).name, 'DataCloneError', String(e));
    }
    await new Promise((res) => w.once('exit', res));
    gc();
  }
  world.barrier();
  const s = isSender ? world.isend(filled(), receiver, t) : undefined;
  if (r) await r;
  if (s) await s;
  if (inp) checkFilled(inp, 'receive buffer after the worker');
});

test('a detached buffer or DataView is ERR_DETACHED_BUFFER before MPI is called', () => {
  const buf = new ArrayBuffer(16);
  const dv = new DataView(buf);
  const f = new Float64Array(buf);
  structuredClone(buf, { transfer: [buf] });
  for (const [what, v] of [['DataView', dv], ['Float64Array', f], ['ArrayBuffer', buf]] as const) {
    for (const call of [() => world.send(v, 0), () => world.isend(v, 0), () => world.irecv(v, 0), () => world.recv(v, 0)]) {
      try {
        call();
        assert.unreachable(`${what}: no error`);
      } catch (e) {
        assert.is((e as { code?: string }).code, 'ERR_DETACHED_BUFFER', `${what}: ${e}`);
        assert.not.instance(e, MpiError);
      }
    }
  }
});

test.run();
