// @timeout 300
// `npm run bench -- --quick` end to end, so the benchmarks cannot rot: it runs, every variant that should
// exist produced finite positive numbers, ratios and targets are computed, the charts and the table are
// written. Never asserts a speed (this machine's timings are far too noisy for that).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { addonAbi } from '../../lib/addon/load.js';
import { tsxImport } from '../../lib/cli/launcher.js';
import { world } from '../../lib/index.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const out = mkdtempSync(path.join(os.tmpdir(), 'mpi4node-bench-'));

interface Summary { bench: string; impl: string; ranks: number; size: number; median: number }
interface Ratio { bench: string; impl: string; ranks: number; size: number; median: number | null }
interface Report {
  quick: boolean;
  machine: { mpi4py: string | null; thp: string; cpu: string };
  summaries: Summary[];
  ratios: Ratio[];
  targets: { id: string; ratio: number | null; status: string }[];
  versusMpi4py: { bench: string; ours: string; n: number; verdict: string }[];
  memory: { bench: string; impl: string; value: number; fraction?: number }[];
  failures: string[];
}

const run = spawnSync(process.execPath, ['--import', tsxImport(), 'bench/run.ts', '--quick', '--out', out], {
  cwd: root, encoding: 'utf8', timeout: 280_000, maxBuffer: 64 << 20,
});
const report: Report | undefined = (() => {
  try {
    return JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8')) as Report;
  } catch {
    return undefined;
  }
})();

const hasColl = typeof (world as { allreduce?: unknown }).allreduce === 'function';
const hasChannel = typeof (world as { channel?: unknown }).channel === 'function';

/** [bench, impl, ranks] that must have results on this machine and build. */
function expected(r: Report): [string, string, number][] {
  const e: [string, string, number][] = [];
  const py = r.machine.mpi4py !== null;
  for (const b of ['latency', 'bw']) {
    e.push([b, 'c', 2], [b, 'mpi4node-blocking', 2], [b, 'mpi4node-promise', 2], [b, 'c-hugepages', 2]);
    if (py) e.push([b, 'mpi4py', 2]);
  }
  e.push(['bw', 'c-persistent', 2], ['bw', 'mpi4node-persistent', 2]);
  if (py) e.push(['bw', 'mpi4py-persistent', 2]);
  // MPICH runs no group with more ranks than cores (bench/harness/plan.ts).
  for (const n of addonAbi() === 'mpich' && os.availableParallelism() < 4 ? [2] : [2, 4]) {
    e.push(['allreduce', 'c', n], ['allreduce', 'c-nonblocking', n]);
    if (hasColl) e.push(['allreduce', 'mpi4node-blocking', n], ['allreduce', 'mpi4node-promise', n]);
    if (py) e.push(['allreduce', 'mpi4py', n]);
    e.push(['mbw_mr', 'c', n], ['mbw_mr', 'mpi4node-blocking', n], ['mbw_mr', 'mpi4node-promise', n]);
    if (py) e.push(['mbw_mr', 'mpi4py', n]);
  }
  if (hasChannel) e.push(['channel', 'mpi4node-channel', 2], ['channel', 'mpi4node-channel-promise', 2]);
  // One-sided latency (osu_{put,get,acc}_latency).
  for (const b of ['put_latency', 'get_latency', 'acc_latency']) {
    e.push([b, 'c', 2], [b, 'mpi4node-blocking', 2]);
    if (py) e.push([b, 'mpi4py', 2]);
  }
  return e;
}

test('bench --quick exits 0 and writes results.json', () => {
  assert.is(run.status, 0, `exit ${run.status ?? run.signal}\n${run.stdout.slice(-3000)}\n${run.stderr.slice(-3000)}`);
  assert.ok(report, 'results.json parses');
  assert.is(report!.quick, true);
  assert.equal(report!.failures, []);
  assert.match(run.stdout, /\[rep 1\/1\] latency c \(2 ranks\) \.\.\. done/, 'progress lines');
  assert.match(run.stdout, /Targets/);
});

test('every variant that should exist has finite, positive medians at every size', () => {
  const r = report!;
  for (const [bench, impl, ranks] of expected(r)) {
    const rows = r.summaries.filter((s) => s.bench === bench && s.impl === impl && s.ranks === ranks);
    assert.ok(rows.length > 0, `${bench} ${impl} ${ranks} ranks has results`);
    for (const s of rows) assert.ok(Number.isFinite(s.median) && s.median > 0, `${bench} ${impl} ${s.size} B: ${s.median}`);
  }
  const lat = r.summaries.filter((s) => s.bench === 'latency' && s.impl === 'mpi4node-blocking').map((s) => s.size);
  assert.ok(lat.includes(8) && lat.some((s) => s > 64 * 1024), 'a small and a large message (both code paths)');
});

test('ratios to the same repetition\'s reference exist for every non-C figure', () => {
  const r = report!;
  const ours = r.ratios.filter((x) => x.impl.startsWith('mpi4node') || x.impl === 'mpi4py');
  assert.ok(ours.length > 0);
  for (const x of ours) assert.ok(x.median !== null && Number.isFinite(x.median) && x.median > 0, `${x.bench} ${x.impl} ${x.size}: ${x.median}`);
  const lat8 = r.targets.find((t) => t.id === 'lat-blocking-8')!;
  assert.ok(lat8.ratio !== null && lat8.ratio > 0);
  for (const t of r.targets) assert.ok(['PASS', 'FAIL', 'n/a'].includes(t.status), t.id);
  // Row by row against mpi4py where it makes the same calls (bench/harness/versus.ts).
  if (r.machine.mpi4py !== null) {
    assert.ok(r.versusMpi4py.some((v) => v.bench === 'latency' && v.ours === 'mpi4node-blocking' && v.n === 1), 'latency against mpi4py');
    assert.ok(r.versusMpi4py.some((v) => v.ours === 'mpi4node-persistent'), 'the persistent window against mpi4py\'s');
    assert.match(run.stdout, /Against mpi4py \(the same calls/);
  } else assert.equal(r.versusMpi4py, []);
});

test('memory checks report a peak-RSS rise and RSS deltas', () => {
  const r = report!;
  const big = r.memory.filter((m) => m.bench === 'memory-big');
  const small = r.memory.filter((m) => m.bench === 'memory-small');
  assert.is(big.length, 2);
  assert.is(small.length, 2);
  for (const m of [...big, ...small]) assert.ok(Number.isFinite(m.value), `${m.bench} ${m.impl}: ${m.value}`);
  // Behaviour, not speed: a send must not copy the message (its peak-RSS rise is far below its size).
  for (const m of big) assert.ok(m.fraction! < 0.5, `${m.impl}: peak RSS rose by ${m.fraction} of the message`);
});

test('charts and table are written, one polyline per variant', () => {
  const r = report!;
  const charts: [string, string[]][] = [['latency.svg', ['latency', 'channel']], ['bandwidth.svg', ['bw']], ['allreduce.svg', ['allreduce']]];
  for (const [file, benches] of charts) {
    const svg = readFileSync(path.join(out, file), 'utf8');
    assert.match(svg, /<svg[\s>]/);
    const n = new Set(r.summaries.filter((s) => benches.includes(s.bench)).map((s) => `${s.impl}|${s.ranks}`)).size;
    assert.is((svg.match(/<polyline /g) ?? []).length, n, `${file}: a polyline per variant`);
  }
  const md = readFileSync(path.join(out, 'table.md'), 'utf8');
  assert.match(md, /\| size \|/);
  assert.match(md, /\*\*Targets\*\*/);
  assert.ok(existsSync(path.join(out, 'table.md')));
});

test('the Node programs ran compiled against dist/, as users run them, not through tsx', () => {
  // bench/harness/compile.ts: tsx's loader thread doubles a rank's page tables, which on this VM
  // changes how often large copies run slow (docs/benchmarks.md).
  const program = path.join(root, 'build', 'bench', 'osu_latency.mjs');
  assert.ok(existsSync(program), 'build/bench/osu_latency.mjs');
  const imports = [...readFileSync(program, 'utf8').matchAll(/^import .* from "([^"]+)";$/gm)].map((m) => m[1]!);
  const ours = imports.filter((i) => !i.startsWith('node:'));
  assert.ok(ours.length > 0, `imports: ${imports.join(', ')}`);
  for (const i of ours) assert.ok(i.startsWith(pathToFileURL(path.join(root, 'dist')).href + '/'), `${i} is in dist/`);
});

test.after(() => rmSync(out, { recursive: true, force: true }));
test.run();
