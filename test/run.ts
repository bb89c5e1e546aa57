// Test runner: node --import tsx test/run.ts [filters...] [--ranks 1,2] [--unit|--mpi] [-v]
//
// Every suite runs in a process of its own (an MPI library cannot be initialised twice in one
// process, and a crash or hang must not take the other suites with it): test/unit/**/*.test.ts
// under plain node, test/mpi/**/*.test.ts under mpirun with 1-4 ranks. Suites are uvu files; a
// suite may also be a plain script, judged by its exit status. The last line of output is always
// "N passed, N failed[, N skipped]" so CI logs can be checked at a glance.
//
// Both MPI families: the suites run first against the default addon (build/, normally Open MPI), then,
// when scripts/setup.mjs built it, against build-mpich/ (the MPICH ABI) with MPICH's mpirun at 1 and 2
// ranks (MPICH busy-polls: never more ranks than cores). Every line names the MPI it ran on.
// `--mpi openmpi` or `--mpi mpich` runs one family only.
//
// Per-suite directives, in the first 20 lines of a suite:
//   // @ranks 2,3,4     rank counts to run an mpi suite with (default 1,2,3,4)
//   // @timeout 300     time limit in seconds for each run (default 120)

import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { addonAbi } from '../lib/addon/load.js';
import { detectMpi, mpirunCommand, tsxImport } from '../lib/cli/launcher.js';
import { killSession } from '../lib/cli/job.js';

const ROOT = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
const TEST_DIR = path.join(ROOT, 'test');
const DEFAULT_RANKS = [1, 2, 3, 4];
const MPICH_RANKS = [1, 2];
const MPICH_ADDON = path.join(ROOT, 'build-mpich', 'Release', 'mpi4node.node');
const DEFAULT_TIMEOUT_S = { unit: 120, mpi: 120 };
const TAIL_LINES = 60;

type Kind = 'unit' | 'mpi';

interface Run {
  kind: Kind;
  file: string; // absolute
  name: string; // relative to test/, e.g. mpi/p2p.test.ts
  np?: number;
  timeoutS: number;
  skipReason?: string;
  /** A uvu suite (it must print uvu's summary), not a plain script. */
  uvu: boolean;
}

interface Summary {
  total: number;
  passed: number;
  skipped: number;
}

interface Result {
  passed: number;
  failed: number;
  skipped: number;
  /** Why the run failed beyond failing tests: exit status, time-out, no summary. */
  problem?: string;
  output: string;
  seconds: number;
}

// ---------------------------------------------------------------------------------------------
// Command line

interface Options {
  filters: string[];
  ranks?: number[];
  kinds: Kind[];
  verbose: boolean;
  /** Only this MPI family. */
  mpi?: 'openmpi' | 'mpich';
}

/** One MPI family to run the suites on: the addon built against it (undefined: the default one). */
interface Target {
  name: string;
  addon?: string;
  ranks?: number[];
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { filters: [], kinds: ['unit', 'mpi'], verbose: false };
  const only: Kind[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--ranks' || arg.startsWith('--ranks=')) {
      const value = arg.includes('=') ? arg.slice(8) : argv[++i];
      const ranks = (value ?? '').split(',').map((s) => Number(s.trim()));
      if (!value || ranks.some((n) => !Number.isInteger(n) || n < 1)) usage(`--ranks needs a list like 1,4, got '${value ?? ''}'`);
      opts.ranks = ranks;
    } else if (arg === '--mpi' && (argv[i + 1] === 'openmpi' || argv[i + 1] === 'mpich')) {
      opts.mpi = argv[++i] as 'openmpi' | 'mpich';
    } else if (arg === '--unit' || arg === '--mpi') {
      only.push(arg.slice(2) as Kind);
    } else if (arg.startsWith('--mpi=')) {
      const value = arg.slice(6);
      if (value !== 'openmpi' && value !== 'mpich') usage(`--mpi takes openmpi or mpich, got '${value ?? ''}'`);
      opts.mpi = value;
    } else if (arg === '-v' || arg === '--verbose') {
      opts.verbose = true;
    } else if (arg === '-h' || arg === '--help') {
      usage();
    } else if (arg.startsWith('-')) {
      usage(`unknown option ${arg}`);
    } else {
      opts.filters.push(arg);
    }
  }
  if (only.length) opts.kinds = only;
  return opts;
}

function usage(error?: string): never {
  const text =
    'usage: node --import tsx test/run.ts [filters...] [--ranks 1,2] [--unit | --mpi] [--mpi openmpi|mpich] [-v]\n' +
    '  filters    substrings of the suite path relative to test/, e.g. p2p or unit/\n' +
    '  --ranks    only these rank counts for mpi suites\n' +
    '  --unit     only test/unit suites;  --mpi  only test/mpi suites\n' +
    '  --mpi F    only the MPI family F (openmpi or mpich); default: every family built\n' +
    '  -v         stream every suite\'s output as it runs\n';
  if (error) {
    process.stderr.write(`test/run.ts: ${error}\n${text}`);
    process.exit(2);
  }
  process.stdout.write(text);
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------
// Finding suites

function findSuites(dir: string): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries
    .flatMap((e) => (e.isDirectory() ? findSuites(path.join(dir, e.name)) : e.name.endsWith('.test.ts') ? [path.join(dir, e.name)] : []))
    .sort();
}

function directives(file: string): { ranks?: number[]; timeoutS?: number } {
  const head = readFileSync(file, 'utf8').split('\n', 20).join('\n');
  const ranks = /^\s*\/\/\s*@ranks\s+([\d,\s]+)$/m.exec(head)?.[1];
  const timeout = /^\s*\/\/\s*@timeout\s+(\d+)/m.exec(head)?.[1];
  return {
    ranks: ranks ? ranks.split(/[\s,]+/).filter(Boolean).map(Number) : undefined,
    timeoutS: timeout ? Number(timeout) : undefined,
  };
}

function planRuns(opts: Options, target: Target): Run[] {
  const runs: Run[] = [];
  const mpi = detectMpi();
  const cpus = os.availableParallelism();
  for (const kind of ['unit', 'mpi'] as const) {
    if (!opts.kinds.includes(kind)) continue;
    for (const file of findSuites(path.join(TEST_DIR, kind))) {
      const name = path.relative(TEST_DIR, file).split(path.sep).join('/');
      if (opts.filters.length && !opts.filters.some((f) => name.includes(f) || `test/${name}`.includes(f))) continue;
      const d = directives(file);
      const uvu = /from ['"]uvu['"]/.test(readFileSync(file, 'utf8'));
      const timeoutS = d.timeoutS ?? DEFAULT_TIMEOUT_S[kind];
      if (kind === 'unit') {
        runs.push({ kind, file, name, timeoutS, uvu });
        continue;
      }
      for (const np of d.ranks ?? DEFAULT_RANKS) {
        if (opts.ranks && !opts.ranks.includes(np)) continue;
        if (target.ranks && !target.ranks.includes(np)) continue;
        const skipReason = mpi.flavour === 'mpich' && np > cpus ? `MPICH cannot oversubscribe (${np} ranks > ${cpus} cores)` : undefined;
        runs.push({ kind, file, name, np, timeoutS, skipReason, uvu });
      }
    }
  }
  return runs;
}

// ---------------------------------------------------------------------------------------------
// Running one suite

let current: number | undefined; // session id of the suite running now, killed if we are interrupted

function commandFor(run: Run): { command: string; args: string[]; env: NodeJS.ProcessEnv } {
  if (run.kind === 'unit') {
    return { command: process.execPath, args: ['--expose-gc', '--import', tsxImport(), run.file], env: process.env };
  }
  return mpirunCommand({ np: run.np!, script: run.file, nodeArgs: ['--expose-gc'], tagOutput: true });
}

function execute(run: Run, verbose: boolean): Promise<Result> {
  const started = performance.now();
  return new Promise((resolve) => {
    let output = '';
    let timedOut = false;
    let settled = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null, spawnError?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (child.pid) killSession(child.pid); // ranks or helpers a suite left behind
      current = undefined;
      if (spawnError) output += `\n${spawnError.message}\n`;
      const seconds = (performance.now() - started) / 1000;
      resolve({ ...judge(run, output, code, signal, timedOut, spawnError), output, seconds });
    };

    let cmd;
    try {
      cmd = commandFor(run);
    } catch (err) {
      settled = true;
      resolve({ passed: 0, failed: 1, skipped: 0, problem: (err as Error).message, output: '', seconds: 0 });
      return;
    }
    // A session of its own (detached) so that on a time-out the suite can be killed whole: mpirun
    // puts every rank in a process group of its own, but they all stay in this session.
    const child = spawn(cmd.command, cmd.args, { cwd: ROOT, env: cmd.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    current = child.pid;
    const collect = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      output += text;
      if (verbose) process.stdout.write(text);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid) killSession(child.pid);
    }, run.timeoutS * 1000);
    child.on('error', (err) => finish(null, null, err));
    // 'close' comes once the pipes are drained too; a stray grandchild holding them open must not
    // make us wait for ever, so give up on them shortly after the suite itself has exited.
    child.on('close', (code, signal) => finish(code, signal));
    child.on('exit', (code, signal) => {
      const drain = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        finish(code, signal);
      }, 2000);
      child.once('close', () => clearTimeout(drain));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Reading the results

const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

function stripAnsi(text: string): string {
  return text.replace(ANSI, '');
}

/** Output per rank; -1 holds untagged text (mpirun's own messages). */
function splitByRank(output: string, tags: 'openmpi' | 'mpich' | 'none'): Map<number, string> {
  const byRank = new Map<number, string>();
  const add = (rank: number, text: string) => byRank.set(rank, (byRank.get(rank) ?? '') + text);
  const lines = stripAnsi(output).split('\n');
  if (tags === 'none') {
    byRank.set(0, lines.join('\n'));
    return byRank;
  }
  // OpenMPI --tag-output: "[1,R]<stdout>:" at the start of every line, and also where a write
  // without a newline was split; MPICH -prepend-rank: "[R] " at the start of every write, so also
  // inside a line where one write did not end with a newline.
  const tag = tags === 'mpich' ? /\[(\d+)\] /g : /\[\d+,(\d+)\]<std(?:out|err|diag)>:/g;
  for (const line of lines) {
    let rank = -1;
    let at = 0;
    for (const t of line.matchAll(tag)) {
      add(rank, line.slice(at, t.index));
      rank = Number(t[1]);
      at = t.index! + t[0].length;
    }
    add(rank, line.slice(at) + '\n');
  }
  return byRank;
}

function summaryOf(text: string): Summary | undefined {
  let last: Summary | undefined;
  for (const m of text.matchAll(/Total:\s+(\d+)\s+Passed:\s+(\d+)\s+Skipped:\s+(\d+)/g)) {
    last = { total: Number(m[1]), passed: Number(m[2]), skipped: Number(m[3]) };
  }
  return last;
}

function judge(
  run: Run,
  output: string,
  code: number | null,
  signal: NodeJS.Signals | null,
  timedOut: boolean,
  spawnError?: Error,
): Omit<Result, 'output' | 'seconds'> {
  const exitedFine = code === 0 && !timedOut && !spawnError;
  const problem = timedOut
    ? `timed out after ${run.timeoutS}s`
    : spawnError
      ? `could not start: ${spawnError.message}`
      : code !== 0
        ? signal
          ? `killed by ${signal}`
          : `exit ${code}`
        : undefined;

  const flavour = detectMpi().flavour;
  const tags = run.kind === 'mpi' && flavour !== 'unknown' ? flavour : 'none';
  const summaries = new Map<number, Summary>();
  for (const [rank, text] of splitByRank(output, tags)) {
    const s = summaryOf(text);
    if (s && rank >= 0) summaries.set(rank, s);
  }
  if (summaries.size === 0) {
    // A plain script is judged by its exit status; a uvu suite that printed no summary died early
    // (a rank that exits 0 before its tests ran must not count as a pass).
    if (exitedFine && !run.uvu) return { passed: 1, failed: 0, skipped: 0 };
    if (exitedFine) return { passed: 0, failed: 1, skipped: 0, problem: 'exit 0 but no test summary' };
    return { passed: 0, failed: 1, skipped: 0, problem: `${problem}, no test summary` };
  }
  const all = [...summaries.values()];
  const rank0 = summaries.get(0);
  // uvu's Total counts the tests it ran (skipped ones are not among them), so Total - Passed failed.
  let failed = Math.max(...all.map((s) => Math.max(0, s.total - s.passed)));
  const passed = exitedFine && rank0 ? rank0.passed : Math.min(...all.map((s) => s.passed));
  const skipped = rank0?.skipped ?? Math.max(...all.map((s) => s.skipped));
  if (!exitedFine) failed = Math.max(failed, 1);
  const missing = run.np ? run.np - summaries.size : 0;
  const why = [problem, !exitedFine && missing > 0 ? `${missing} rank(s) printed no summary` : undefined].filter(Boolean).join(', ');
  return { passed, failed, skipped, problem: why || undefined };
}

// ---------------------------------------------------------------------------------------------

function tail(output: string, n: number): string {
  const text = stripAnsi(output).replace(/\s+$/, '');
  if (!text) return '    (no output)\n';
  const lines = text.split('\n');
  const shown = lines.slice(-n);
  const head = lines.length > n ? `    ... (${lines.length - n} earlier lines)\n` : '';
  return head + shown.map((l) => `    ${l}`).join('\n') + '\n';
}

/** The MPI families to run on: the default addon's, then MPICH's when build-mpich/ holds an addon. */
function targets(opts: Options): Target[] {
  const out: Target[] = [];
  const defaultAbi = addonAbi() ?? detectMpi().flavour;
  if (!opts.mpi || opts.mpi === defaultAbi) out.push({ name: defaultAbi });
  if (defaultAbi !== 'mpich' && (!opts.mpi || opts.mpi === 'mpich') && existsSync(MPICH_ADDON)) {
    out.push({ name: 'mpich', addon: MPICH_ADDON, ranks: MPICH_RANKS });
  }
  if (out.length === 0) usage(`no addon built against ${opts.mpi} (scripts/setup.mjs builds build-mpich/ when MPICH is installed)`);
  return out;
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  const all = targets(opts);
  const baseAddon = process.env.MPI4NODE_ADDON;
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const interrupt = (signal: NodeJS.Signals) => {
    if (current) killSession(current);
    console.log(`interrupted by ${signal}`);
    console.log(`${passed} passed, ${failed + 1} failed${skipped ? `, ${skipped} skipped` : ''}`);
    process.exit(130);
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);

  for (const target of all) {
    // Ranks and helpers inherit the addon choice; the launcher picks the matching mpirun from it.
    if (target.addon) process.env.MPI4NODE_ADDON = target.addon;
    else if (baseAddon === undefined) delete process.env.MPI4NODE_ADDON;
    else process.env.MPI4NODE_ADDON = baseAddon;
    const mpi = detectMpi();
    const mpiName = { openmpi: 'OpenMPI', mpich: 'MPICH', unknown: 'unknown MPI' }[mpi.flavour];
    const runs = planRuns(opts, target);
    const width = Math.max(0, ...runs.map((r) => r.name.length));
    const family = target.name.padEnd(7);
    console.log(
      `mpi4node tests: ${mpiName}${mpi.version ? ` ${mpi.version}` : ''} (${mpi.mpirun}${target.addon ? `, addon ${path.relative(ROOT, target.addon)}` : ''}), ` +
        `node ${process.version}, ${os.availableParallelism()} cores, ${runs.length} suite run(s)`,
    );
    for (const run of runs) {
      const label = `${family} ${run.name.padEnd(width)}${run.np ? `  np=${run.np}` : ''}`;
      if (run.skipReason) {
        skipped++;
        console.log(`skip  ${label}  ${run.skipReason}`);
        continue;
      }
      const r = await execute(run, opts.verbose);
      passed += r.passed;
      failed += r.failed;
      skipped += r.skipped;
      const counts = [r.failed ? `${r.failed} failed` : '', `${r.passed} passed`, r.skipped ? `${r.skipped} skipped` : ''].filter(Boolean).join(', ');
      const ok = r.failed === 0;
      console.log(`${ok ? 'ok  ' : 'FAIL'}  ${label}  ${counts}${r.problem ? `  (${r.problem})` : ''}  ${r.seconds.toFixed(1)}s`);
      if (!ok && !opts.verbose) process.stdout.write(tail(r.output, TAIL_LINES));
    }
  }

  console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
  return failed > 0 || passed === 0 ? 1 : 0;
}

process.exitCode = await main();
