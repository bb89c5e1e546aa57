// @timeout 120
// bench/native/percall.c and bench/node/percall.ts (the cost per call that docs/benchmarks.md quotes) run
// and print a finite positive figure for every loop they name. Never asserts a speed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { buildNative } from '../../bench/native/build.mjs';
import { tsxImport } from '../../lib/cli/launcher.js';
import { C } from '../../lib/addon/binding.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const env = { ...process.env, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' };

function figures(stdout: string, bench = 'percall'): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const j = JSON.parse(line) as { bench: string; impl: string; what: string; value: number; unit: string };
    assert.is(j.bench, bench);
    assert.is(j.unit, 'ns');
    m.set(bench === 'percall' ? j.what : `${j.impl}: ${j.what}`, j.value);
  }
  return m;
}

test('the C side: send+recv, send+mprobe+mrecv, window pairs, isend+irecv completed each, persistent window pairs and put+flush, one rank', async () => {
  const { percall } = await buildNative();
  const r = spawnSync(percall, [], { cwd: root, env, encoding: 'utf8', timeout: 60_000 });
  assert.is(r.status, 0, r.stderr);
  const f = figures(r.stdout);
  for (const what of ['send+recv 8 B', 'send+mprobe+mrecv 8 B', 'window pair (isend+irecv, waitAll of 64)',
    'isend+irecv 8 B, each completed (Node: await each; C: MPI_Wait each)', 'persistent window pair (startAll + wait of 64)', 'put+flush 8 B']) {
    const v = f.get(what);
    assert.ok(v !== undefined && Number.isFinite(v) && v > 0, `${what}: ${v}`);
  }
});

test('the Node side: the same loops, a channel\'s, the Promise forms, a bare N-API call and V8\'s own Promise', () => {
  // Its send+recv loop sends to itself before posting the receive. MPI lets a standard-mode send wait
  // for its receive; Open MPI buffers 8 bytes, MPICH 4.0.2 (ch4:ucx) waits for good, as the same loop in
  // C does (MPI_Send in PMPI_Send's ucp_worker_progress). So the tool is Open MPI's.
  if (C.IMPLEMENTATION === 'mpich') return void console.log('skipped on MPICH: percall.ts sends to itself before receiving, which MPICH does not buffer');
  const r = spawnSync(process.execPath, ['--import', tsxImport(), 'bench/node/percall.ts'], { cwd: root, env, encoding: 'utf8', timeout: 90_000 });
  assert.is(r.status, 0, r.stderr);
  const f = figures(r.stdout);
  assert.is(f.size, 10, [...f.keys()].join('; '));
  for (const [what, v] of f) assert.ok(Number.isFinite(v) && v > 0, `${what}: ${v}`);
});

test('request shapes (V8 alone): a Promise request, a lazy one and a pooled one, in every loop', () => {
  const r = spawnSync(process.execPath, ['--import', tsxImport(), 'bench/node/request-shapes.ts'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  assert.is(r.status, 0, r.stderr);
  const f = figures(r.stdout, 'request-shapes');
  for (const shape of ['promise', 'lazy', 'pooled']) {
    for (const what of ['window of 64, nobody awaits', 'await, done at post', 'await, done by a later microtask']) {
      const v = f.get(`${shape}: ${what}`);
      assert.ok(v !== undefined && Number.isFinite(v) && v > 0, `${shape}: ${what}: ${v}`);
    }
  }
  assert.is(f.size, 9, [...f.keys()].join('; '));
});

test.run();
