// Every public function rejects bad input with a coded error before MPI is touched, and the process
// keeps working: a property-based walk (fast-check) over EVERY export of lib/index.ts, found by
// reflection (functions, classes' statics and constructors, the methods of an instance of each class
// the API hands out, the gpu namespace), called with wrong types, NaN, negative and huge values,
// detached buffers. A singleton world of 1 rank, where what may block is known: the peer arguments of
// the calls that could wait for a message are always PROC_NULL (which completes at once) or invalid.
// @timeout 300
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import * as api from '../../lib/index.js';

const { world, PROC_NULL, isErrorCode } = api;

// Constructors the API documents as internal (instances come from the calls that make them), and calls
// that end the process or MPI. (Error classes are not constructed either: see exportsOf.)
const INTERNAL = new Set(['new Comm', 'new Request', 'new Channel', 'new Server', 'new GraphComm', 'new UserOp',
  'new CartComm', 'new TopoComm', 'new Intercomm', 'new Window', 'new gpu.NcclComm', 'new gpu.GpuRequest', 'new gpu.DeviceBuffer', 'new Status']);
const EXCLUDED = new Set(['abort', 'finalize']);
// Positions of the peer arguments of calls that could wait for a message (or for a receive to be posted).
const PEERS: Record<string, number[]> = {
  'Comm.send': [1], 'Comm.ssend': [1], 'Comm.isend': [1], 'Comm.issend': [1], 'Comm.recv': [1], 'Comm.irecv': [1],
  'Comm.sendrecv': [1, 3], 'Comm.sendrecvReplace': [1, 2], 'Comm.probe': [0], 'Comm.iprobe': [0],
  'Channel.send': [0], 'Channel.isend': [0], 'Channel.recv': [0], 'Channel.irecv': [0], 'Channel.request': [0],
  'gpu.send': [2], 'gpu.isend': [2], 'gpu.recv': [2], 'gpu.irecv': [2],
};

interface Callable {
  name: string;
  /** Key into PEERS. */
  kind: string;
  call: (args: unknown[]) => unknown;
}

const isClass = (f: Function) => /^class\b/.test(Function.prototype.toString.call(f));
const methodsOf = (o: object) => {
  const names = new Set<string>();
  for (let p = Object.getPrototypeOf(o); p && p !== Object.prototype && p !== Promise.prototype; p = Object.getPrototypeOf(p)) {
    for (const n of Object.getOwnPropertyNames(p)) {
      const d = Object.getOwnPropertyDescriptor(p, n)!;
      if (n !== 'constructor' && !n.startsWith('_') && typeof d.value === 'function') names.add(n);
    }
  }
  return [...names];
};

function exportsOf(ns: Record<string, unknown>, prefix: string, out: Callable[]): void {
  for (const [name, v] of Object.entries(ns)) {
    const full = prefix + name;
    if (typeof v === 'function') {
      if (!isClass(v)) {
        if (!EXCLUDED.has(full)) out.push({ name: full, kind: full, call: (a) => (v as Function)(...a) });
        continue;
      }
      for (const s of Object.getOwnPropertyNames(v)) {
        const d = Object.getOwnPropertyDescriptor(v, s)!;
        if (!['length', 'name', 'prototype'].includes(s) && !s.startsWith('_') && typeof d.value === 'function') {
          out.push({ name: `${full}.${s}`, kind: `${full}.${s}`, call: (a) => d.value.apply(v, a) });
        }
      }
      // Error classes are exported to be caught and told apart; the library constructs them from its own data.
      if (!INTERNAL.has(`new ${full}`) && !(v.prototype instanceof Error)) out.push({ name: `new ${full}`, kind: `new ${full}`, call: (a) => Reflect.construct(v, a) });
    } else if (v !== null && typeof v === 'object' && Object.prototype.toString.call(v) === '[object Module]') {
      exportsOf(v as Record<string, unknown>, `${full}.`, out);
    }
  }
}

// Methods whose purpose is to end the process on the next MPI error (MPI_ERRORS_ARE_FATAL), and those
// that with a lucky draw would start a program ('sum' is on PATH) or wait for a peer process forever:
// test/mpi/dynamic.test.ts walks their bad inputs.
const FATAL = new Set(['Comm.setErrorsFatal', 'Comm.spawn', 'Comm.spawnNode', 'Comm.accept', 'Comm.connect']);

function instanceMethods(label: string, kind: string, o: object, out: Callable[]): void {
  for (const m of methodsOf(o)) {
    if (FATAL.has(`${kind}.${m}`)) continue;
    out.push({ name: `${label}.${m}`, kind: `${kind}.${m}`, call: (a) => (o as any)[m](...a) });
  }
}

const detachedBuffer = () => {
  const b = new ArrayBuffer(16);
  structuredClone(b, { transfer: [b] });
  return b;
};
// A view made first, then its buffer detached (a transferred array).
const detachedView = <V>(make: (b: ArrayBuffer) => V) => () => {
  const b = new ArrayBuffer(16);
  const v = make(b);
  structuredClone(b, { transfer: [b] });
  return v;
};
// Values are drawn as indices into these makers (fast-check cannot print a detached array), made fresh
// for each call, and named in the failure message.
const values: [string, () => unknown][] = [
  ...[undefined, null, NaN, Infinity, -Infinity, -1, -2, 0, 1, 2, 1.5, -0.5, 2 ** 31, 2 ** 31 - 1, 2 ** 32, 2 ** 53, -(2 ** 53),
    1e308, '', 'x', 'float32', 'int8', 'sum', 'avg', 'multiple', true, false, 0n, 2n ** 64n]
    .map((v): [string, () => unknown] => [typeof v === 'string' ? JSON.stringify(v) : `${String(v)}${typeof v === 'bigint' ? 'n' : ''}`, () => v]),
  ['Symbol()', () => Symbol('s')], ['() => 1', () => () => 1], ['{}', () => ({})], ['[1, 2]', () => [1, 2]], ['[[0]]', () => [[0]]],
  ['{ counts: [1], displs: [0] }', () => ({ counts: [1], displs: [0] })], ["{ version: '1.0' }", () => ({ version: '1.0' })],
  ['{ timeoutMs: -1 }', () => ({ timeoutMs: -1 })],
  ['Float64Array(4)', () => new Float64Array(4)], ['Int32Array(3)', () => new Int32Array(3)], ['Uint8Array(0)', () => new Uint8Array(0)],
  ['BigInt64Array(2)', () => new BigInt64Array(2)], ["Buffer('ab')", () => Buffer.from('ab')],
  ['DataView(8)', () => new DataView(new ArrayBuffer(8))], ['ArrayBuffer(16)', () => new ArrayBuffer(16)],
  ['SharedArrayBuffer(8)', () => new SharedArrayBuffer(8)],
  ['detached Float64Array', detachedView((b) => new Float64Array(b))], ['detached ArrayBuffer', detachedBuffer],
  ['detached DataView', detachedView((b) => new DataView(b))],
  ['IN_PLACE', () => api.IN_PLACE], ['world', () => world], ['self', () => api.self],
];
const peers: [string, () => unknown][] = [['PROC_NULL', () => PROC_NULL], ['NaN', () => NaN], ['1.5', () => 1.5], ['7', () => 7],
  ['-7', () => -7], ['"x"', () => 'x'], ['null', () => null], ['{}', () => ({})]];
// [index into values] or [-1, any integer]
const anyValue = fc.oneof(fc.tuple(fc.nat(values.length - 1)), fc.tuple(fc.constant(-1), fc.integer()));
const made = ([i, n]: [number, number?]): [string, unknown] => (i >= 0 ? [values[i]![0], values[i]![1]()] : [String(n), n]);

function check(name: string, shown: string, e: unknown): void {
  const code = (e as { code?: unknown } | null)?.code;
  if (!(e instanceof Error) || !isErrorCode(code)) {
    assert.unreachable(`${name}(${shown}): ${e instanceof Error ? `${e.constructor.name} without a code of the vocabulary (code ${String(code)})` : `threw a non-Error ${String(e)}`}: ${(e as Error)?.message}`);
  }
}

test('every export, method and constructor rejects bad input with a coded error only', async () => {
  const channel = world.channel('fuzz', { version: '1.0' });
  const graph = world.graph([[0]]);
  const server = channel.serve(() => 1).unref();
  const done = world.isend(new Uint8Array(1), PROC_NULL);
  done.wait();
  const targets: Callable[] = [];
  exportsOf(api as unknown as Record<string, unknown>, '', targets);
  instanceMethods('world', 'Comm', world, targets);
  instanceMethods('graph', 'Comm', graph, targets);
  instanceMethods('channel', 'Channel', channel, targets);
  instanceMethods('server', 'Server', server, targets);
  instanceMethods('request', 'Request', done, targets);
  instanceMethods('status', 'Status', done.value!, targets);
  assert.ok(targets.length > 150, `only ${targets.length} callables found`);
  const failures: string[] = [];
  for (const t of targets) {
    const at = PEERS[t.kind] ?? [];
    const args = fc.tuple(fc.array(anyValue, { maxLength: 6 }), fc.array(fc.nat(peers.length - 1), { minLength: at.length, maxLength: at.length }));
    const run = await fc.check(
      fc.asyncProperty(args, async ([drawn, peerDrawn]) => {
        const a = drawn.map(made);
        while (a.length <= Math.max(-1, ...at)) a.push(['undefined', undefined]);
        at.forEach((pos, k) => {
          const [n, make] = peers[peerDrawn[k]!]!;
          a[pos] = [n, make()];
        });
        const shown = a.map(([n]) => n).join(', ');
        let r: unknown;
        try {
          r = t.call(a.map(([, v]) => v));
        } catch (e) {
          check(t.name, shown, e);
          return;
        }
        // A pool that was made serves on every rank until shut down: shut it, or the process never ends.
        if (r instanceof api.Pool) {
          await r.shutdown();
          return;
        }
        if (r !== null && typeof r === 'object' && typeof (r as Promise<unknown>).then === 'function') {
          // A Promise form: it may reject (coded) or stay pending (a receive from nobody: cancelled at exit).
          const p = Promise.resolve(r).then(() => undefined, (e) => check(t.name, shown, e));
          await Promise.race([p, new Promise((ok) => setTimeout(ok, 5))]);
        }
      }),
      { numRuns: 100, seed: 16 },
    );
    if (run.failed) failures.push(String((run.errorInstance as Error | undefined)?.message ?? run.error).split('\n')[0]!);
  }
  assert.ok(failures.length === 0, `${failures.length} of ${targets.length} callables failed:\n${failures.join('\n')}`);
  // MPI still works.
  const got = world.irecv(new Int32Array(1), 0, 9);
  world.isend(new Int32Array([42]), 0, 9).wait();
  assert.equal([...(await got, got.buffer as Int32Array)], [42]);
});

test.run();
