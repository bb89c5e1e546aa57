// Instructions per operation, C against mpi4node, counted by callgrind: the per-call loops of
// bench/native/percall.c and bench/node/percall.ts on one rank, each loop alone. On this VM a time per
// call moves by 2x between processes (docs/benchmarks.md); an instruction count moves by a few percent
// at most (a loop's share of collections and of V8's tiering), so it is what tells whether a change to
// the binding's hot path removed work; --runs N takes the median of N runs of each program. It is not
// a speed: a cache miss or a wait costs time and no instructions.
//
//   node --import tsx bench/instructions.ts [--runs N] [--top N] [--publish]
//
// Each program runs under `valgrind --tool=callgrind`, dumping its counts on entry to MPI_Wtick and to
// MPI_Get_version, the two calls that bracket every loop in --instructions mode: each second dump is a
// loop, start-up and JIT compilation excluded (a loop's own collections and deopts are in it). Counts
// are the main thread's (--separate-threads: a dump triggered there resets only its own counts, and
// V8's helper threads, the loader's worker among them, would otherwise leak into the first loop).
// Prints a JSON line per loop and implementation, then a table with mpi4node's costliest functions per
// operation: native code by symbol, V8's compiled JavaScript by the name node's perf map gives it
// (--perf-basic-prof; a function's inlined callees count as its own). --publish writes the table to
// docs/bench/instructions.md. Open MPI only, as percall is (its send+recv loop sends to itself before
// receiving). Needs valgrind (Debian: apt-get install valgrind); ~2 minutes a run.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildNative } from './native/build.mjs';
import { detectMpi, mpirunCommand, typeScriptNodeArgs } from '../lib/cli/launcher.js';
import { BENCH_DIR } from './harness/plan.js';
import { parseLines } from './harness/exec.js';

const argv = process.argv.slice(2);
const topAt = argv.indexOf('--top');
const TOP = topAt >= 0 ? Number(argv[topAt + 1]) : 6;
const runsAt = argv.indexOf('--runs');
const RUNS = runsAt >= 0 ? Number(argv[runsAt + 1]) : 1;
const publish = argv.includes('--publish');
if (!Number.isInteger(TOP) || TOP < 0 || !Number.isInteger(RUNS) || RUNS < 1) fail('usage: node --import tsx bench/instructions.ts [--runs N] [--top N] [--publish]');

function fail(message: string): never {
  console.error(`instructions: ${message}`);
  process.exit(2);
}

if (spawnSync('valgrind', ['--version']).status !== 0) fail('needs valgrind on PATH (Debian: apt-get install valgrind)');
if (detectMpi().flavour !== 'openmpi') fail('Open MPI only: percall sends to itself before it receives, which MPICH does not buffer');

interface Part {
  /** Instructions of the loop on the main thread. */
  total: number;
  /** Self cost of each function, by "function [object]". */
  self: Map<string, number>;
}

const JIT = 'JavaScript compiled by V8 (no symbol)';
const ROOT = path.resolve(BENCH_DIR, '..');

/**
 * Names of V8's compiled code, from the perf map node writes with --perf-basic-prof
 * (/tmp/perf-<pid>.map: "start size name" per code object, hex): callgrind names code it has no symbol
 * for by its first address, which this turns into the JavaScript function ("JS:*send lib/comm/p2p.ts:12").
 */
class JitNames {
  #starts: number[] = [];
  #ends: number[] = [];
  #names: string[] = [];
  constructor(file: string) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return;
    }
    const entries = text.split('\n').map((l) => /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(l)).filter((m) => m !== null)
      .map((m) => [parseInt(m[1]!, 16), parseInt(m[2]!, 16), m[3]!] as const).sort((a, b) => a[0] - b[0]);
    for (const [start, size, name] of entries) {
      this.#starts.push(start);
      this.#ends.push(start + size);
      this.#names.push(name.replace('file://', '').replace(ROOT + path.sep, ''));
    }
  }
  /** The code object holding `addr` (the latest one that started at or below it), or undefined. */
  at(addr: number): string | undefined {
    let lo = 0, hi = this.#starts.length - 1, found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.#starts[mid]! <= addr) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found >= 0 && addr < this.#ends[found]! ? this.#names[found] : undefined;
  }
}

/**
 * The main thread's dumps of one run, in order (`<out>.1-01`, `<out>.2-01`, ...): the odd ones end at an
 * MPI_Wtick (what came before a loop), the even ones at an MPI_Get_version (a loop).
 */
function loopParts(out: string, code?: JitNames): Part[] {
  const dir = path.dirname(out), base = path.basename(out);
  const re = new RegExp(`^${base.replace(/\./g, '\\.')}\\.(\\d+)-01$`);
  const files = readdirSync(dir).map((f) => [f, re.exec(f)?.[1]] as const).filter((x) => x[1] !== undefined)
    .sort((a, b) => Number(a[1]) - Number(b[1]));
  return files.filter((_, i) => i % 2 === 1).map(([f]) => parsePart(readFileSync(path.join(dir, f), 'utf8'), code));
}

/**
 * Self costs from a callgrind profile (its format: valgrind's docs/callgrind-format). Names are
 * compressed ("fn=(12) name" once, "fn=(12)" after); the cost line after a "calls=" line is a call's
 * inclusive cost, not the caller's own.
 */
function parsePart(text: string, code?: JitNames): Part {
  const names = { fn: new Map<string, string>(), ob: new Map<string, string>() };
  const named = (kind: 'fn' | 'ob', v: string) => {
    const m = /^\((\d+)\)(?: (.*))?$/.exec(v);
    if (!m) return v;
    if (m[2] !== undefined) names[kind].set(m[1]!, m[2]);
    return names[kind].get(m[1]!) ?? v;
  };
  const self = new Map<string, number>();
  let fn = '', ob = '', total = 0, callCost = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('fn=')) fn = named('fn', line.slice(3));
    else if (line.startsWith('ob=')) ob = named('ob', line.slice(3));
    else if (line.startsWith('cfn=')) named('fn', line.slice(4));
    else if (line.startsWith('cob=')) named('ob', line.slice(4));
    else if (line.startsWith('calls=')) callCost = true;
    else if (line.startsWith('summary:')) total = Number(line.slice(8));
    else if (/^[-+*\d]/.test(line)) {
      if (callCost) {
        callCost = false;
        continue;
      }
      const n = Number(line.slice(line.lastIndexOf(' ') + 1));
      const key = /^0x[0-9a-f]+$/.test(fn) && ob === '???' ? (code?.at(parseInt(fn, 16)) ?? JIT) : `${fn} [${path.basename(ob)}]`;
      self.set(key, (self.get(key) ?? 0) + n);
    }
  }
  return { total, self };
}

interface Loop {
  what: string;
  ops: number;
  part: Part;
}

/** One run of `program` under callgrind; `jit`: name V8's code from the perf map of the run's process. */
function callgrind(label: string, program: string, args: string[], tmp: string, jit = false): Loop[] {
  const out = path.join(tmp, `cg.${label}`);
  const cmd = mpirunCommand({
    np: 1, program: 'valgrind', script: '',
    scriptArgs: ['--tool=callgrind', '--cache-sim=no', '--smc-check=all-non-file', '--separate-threads=yes',
      '--dump-before=*MPI_Wtick', '--dump-before=*MPI_Get_version', `--callgrind-out-file=${out}`, program, ...args, '--instructions'],
  });
  // In the scratch directory: --perf-basic-prof also writes an isolate-*.log per isolate to the cwd.
  const r = spawnSync(cmd.command, cmd.args, { cwd: tmp, env: cmd.env, encoding: 'utf8', timeout: 900_000, maxBuffer: 64 << 20 });
  // valgrind runs node in its own process: the pid callgrind records is the one the perf map is named for.
  const first = `${out}.1-01`;
  const pid = existsSync(first) ? /^pid: (\d+)$/m.exec(readFileSync(first, 'utf8').slice(0, 400))?.[1] : undefined;
  const map = jit && pid ? `/tmp/perf-${pid}.map` : undefined;
  try {
    if (r.status !== 0) fail(`${label} under callgrind: exit ${r.status ?? r.signal}\n${r.stderr.slice(-3000)}`);
    const loops = parseLines(r.stdout) as unknown as { what: string; value: number; unit: string }[];
    const ps = loopParts(out, map ? new JitNames(map) : undefined);
    if (ps.length !== loops.length) fail(`${label}: ${loops.length} loops but ${ps.length} callgrind dumps (is MPI_Wtick or MPI_Get_version called elsewhere?)`);
    return loops.map((l, i) => ({ what: l.what, ops: l.value, part: ps[i]! }));
  } finally {
    if (map) rmSync(map, { force: true });
  }
}

const perOp = (l: Loop) => l.part.total / l.ops;

/** RUNS runs of a program; per loop, the run with the median count. */
function medianRuns(run: (tmp: string) => Loop[]): Loop[] {
  const all: Loop[][] = [];
  for (let i = 0; i < RUNS; i++) {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'mpi4node-instructions-'));
    try {
      all.push(run(tmp));
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  return all[0]!.map((_, k) => all.map((r) => r[k]!).sort((a, b) => perOp(a) - perOp(b))[(RUNS - 1) >> 1]!);
}

const { percall } = await buildNative();
const c = medianRuns((tmp) => callgrind('c', percall, [], tmp));
const script = path.join(BENCH_DIR, 'node', 'percall.ts');
const node = medianRuns((tmp) => callgrind('mpi4node', process.execPath, ['--perf-basic-prof', ...typeScriptNodeArgs(script), script], tmp, true));

/** A function's name for the table: no C++ parameter lists, and JavaScript as "name (file)". */
function display(f: string): string {
  const js = /^JS:[*~^+-]?(\S*) (\S+?)(?::\d+:\d+)?$/.exec(f);
  if (js) return `${js[1] || '(anonymous)'} (${js[2]})`;
  const anon = '(anonymous namespace)';
  let name = f.split(anon).join('{anon}');
  const at = name.indexOf('(');
  if (at > 0) name = name.slice(0, at) + name.slice(name.lastIndexOf(')') + 1).replace(/^ const/, '');
  return name.split('{anon}').join(anon).replace(/'\d+(?= \[|$)/, ''); // callgrind's '2: a recursion level
}
// C's loop for each of mpi4node's, where the names differ: a channel message is a receive of unknown size.
const REFERENCE: Record<string, string> = { 'channel send+recv 8 B (uint8 tensor channel)': 'send+mprobe+mrecv 8 B' };
const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
const rows: string[] = [];
for (const l of node) {
  const ref = c.find((x) => x.what === (REFERENCE[l.what] ?? l.what));
  const mine = perOp(l);
  for (const [impl, what, v] of [['c', ref?.what, ref && perOp(ref)], ['mpi4node', l.what, mine]] as const) {
    if (v !== undefined) console.log(JSON.stringify({ bench: 'instructions', impl, what, value: Math.round(v), unit: 'instructions/op' }));
  }
  const top = [...l.part.self].sort((a, b) => b[1] - a[1]).slice(0, TOP)
    .map(([f, n]) => `${display(f)} ${fmt(n / l.ops)}`).join('; ');
  rows.push(`| ${l.what} | ${ref ? fmt(perOp(ref)) : '-'} | ${fmt(mine)} | ${ref ? fmt(mine - perOp(ref)) : '-'} | ${top} |`);
}

const table = [
  '| per operation (one rank, to itself) | C (the same loop; a channel: send + mprobe + mrecv) | mpi4node | added | mpi4node\'s costliest functions (self, per operation) |',
  '| :-- | --: | --: | --: | :-- |',
  ...rows,
].join('\n');
console.log(`\n${table}`);
if (publish) {
  const file = path.join(ROOT, 'docs', 'bench', 'instructions.md');
  writeFileSync(file, `# Instructions per operation\n\n\`node --import tsx bench/instructions.ts --runs ${RUNS} --top ${TOP} --publish\` (callgrind, ${detectMpi().version ? `Open MPI ${detectMpi().version}` : 'Open MPI'}, Node ${process.versions.node}), ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC. Instructions of the JavaScript thread while the loop ran, divided by its operations (median of ${RUNS} run${RUNS > 1 ? 's' : ''} of each program); a window pair is one isend and one irecv. Functions by their own instructions: native code by symbol, JavaScript by V8's name for it (with what it inlined).\n\n${table}\n`);
  console.log(`wrote ${path.relative(process.cwd(), file)}`);
}
