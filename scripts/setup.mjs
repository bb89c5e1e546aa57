#!/usr/bin/env node
// Brings a checkout to the point where tests, demo and benchmarks can run: MPI and a compiler,
// npm dependencies, the native addon, dist/. Runs before node_modules exists, so Node builtins
// only. Every step checks first and does nothing when its result is up to date, because this runs
// in front of every `npm test`.
//
//   node scripts/setup.mjs [--quiet]

import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync, readdirSync, realpathSync, statSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const quiet = process.argv.includes('--quiet');
const isRoot = process.getuid?.() === 0;

let partialLine = false; // "addon: node-gyp build... " waits for its ending
const say = (line) => {
  if (!quiet) console.log(line);
  partialLine = false;
};

function fail(message) {
  if (partialLine) process.stdout.write('\n');
  console.error(`setup: ${message}`);
  process.exit(1);
}

/** Runs a command. Streamed when `stream`, else captured and shown only if it fails. */
function sh(command, args, { stream = false, env = process.env, what = `${command} ${args.join(' ')}`, mayFail = false } = {}) {
  const r = spawnSync(command, args, {
    cwd: root,
    env,
    stdio: stream && !quiet ? 'inherit' : ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.error && !mayFail) fail(`could not run ${what}: ${r.error.message}`);
  if (r.status !== 0 && mayFail) return undefined;
  if (r.status !== 0) {
    if (partialLine) process.stdout.write('\n');
    partialLine = false;
    const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.trimEnd();
    if (out) console.error(out.split('\n').slice(-150).join('\n'));
    fail(`${what} failed (${r.signal ?? `exit ${r.status}`})`);
  }
  return r.stdout ?? '';
}

function which(name) {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const file = path.join(dir || '.', name);
    try {
      accessSync(file, constants.X_OK);
      if (statSync(file).isFile()) return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

const mtime = (file) => (existsSync(file) ? statSync(file).mtimeMs : 0);

/** Latest modification time of the files under `dir` whose name matches `pattern`. */
function newest(dir, pattern = /./) {
  let latest = 0;
  let entries = [];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) latest = Math.max(latest, newest(p, pattern));
    else if (pattern.test(e.name)) latest = Math.max(latest, mtime(p));
  }
  return latest;
}

const seconds = (start) => `${((Date.now() - start) / 1000).toFixed(0)}s`;

// ---------------------------------------------------------------------------------------------
// a. MPI and the build tools

function findMpi() {
  // The same precedence as lib/cli/launcher.ts: an explicit MPI_HOME wins over PATH.
  for (const home of [process.env.MPI_HOME, process.env.npm_config_mpi_home]) {
    const mpicc = home && path.join(home, 'bin', 'mpicc');
    if (mpicc && existsSync(mpicc)) return { mpicc, mpirun: existsSync(path.join(home, 'bin', 'mpirun')) ? path.join(home, 'bin', 'mpirun') : undefined };
  }
  // Debian names the flavours mpicc.openmpi / mpicc.mpich and points mpicc at one through alternatives.
  for (const suffix of ['', '.openmpi', '.mpich']) {
    const mpicc = which(`mpicc${suffix}`);
    if (mpicc) return { mpicc, mpirun: which(`mpirun${suffix}`) ?? which('mpiexec') };
  }
  return { mpicc: undefined, mpirun: undefined };
}

function describeMpi(mpirun) {
  const r = spawnSync(mpirun, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  const ompi = /Open MPI\)?\s+v?(\d[\w.]*)/i.exec(out);
  if (ompi) return `OpenMPI ${ompi[1]}`;
  if (/HYDRA|MPICH/i.test(out)) return `MPICH ${/Version:\s+(\S+)/.exec(out)?.[1] ?? ''}`.trim();
  return 'unknown MPI';
}

function missingTools() {
  const missing = [];
  let mpi = findMpi();
  if (!mpi.mpicc || !mpi.mpirun) missing.push({ tool: 'MPI (mpicc, mpirun)', apt: ['openmpi-bin', 'libopenmpi-dev'] });
  if (!which('cc') && !which('gcc') && !which('clang')) missing.push({ tool: 'a C compiler', apt: ['build-essential'] });
  if (!which('c++') && !which('g++') && !which('clang++')) missing.push({ tool: 'a C++ compiler', apt: ['build-essential'] });
  if (!which('make')) missing.push({ tool: 'make', apt: ['build-essential'] });
  if (!which('python3')) missing.push({ tool: 'python3 (for node-gyp)', apt: ['python3'] });
  if (!which('cmake')) missing.push({ tool: 'cmake (only for npm run build:cmake)', apt: ['cmake'], optional: true });
  if (!which('valgrind')) missing.push({ tool: 'valgrind (the worker-teardown memory test)', apt: ['valgrind'], optional: true });
  // For the multi-host and Slurm suites (test/multihost/): without them those suites say they skipped.
  if (!which('ip')) missing.push({ tool: 'ip (iproute2: the multi-host tests)', apt: ['iproute2'], optional: true });
  if (!['srun', 'slurmctld', 'slurmd', 'munged'].every((p) => which(p))) {
    missing.push({ tool: 'Slurm and munge (the Slurm tests)', apt: ['slurm-wlm', 'munge'], optional: true });
  }
  return missing;
}

function installHint(missing) {
  let os = '';
  try {
    os = readFileSync('/etc/os-release', 'utf8');
  } catch {
    // not Linux, or a very small container
  }
  const needMpi = missing.some((m) => m.apt.includes('openmpi-bin'));
  const apt = [...new Set(missing.flatMap((m) => m.apt))].join(' ');
  const lines = ['Install them with:'];
  if (process.platform === 'darwin') {
    lines.push('  macOS:          xcode-select --install; brew install open-mpi cmake');
  } else {
    if (!os || /^ID(_LIKE)?=.*(debian|ubuntu)/m.test(os)) {
      lines.push(`  Debian/Ubuntu:  sudo apt-get install ${apt}`);
      if (needMpi) lines.push(`            or:   sudo apt-get install ${apt.replace('openmpi-bin libopenmpi-dev', 'mpich libmpich-dev')}`);
    }
    if (!os || /^ID(_LIKE)?=.*(fedora|rhel|centos)/m.test(os)) {
      lines.push('  Fedora/RHEL:    sudo dnf install openmpi-devel gcc-c++ make python3 cmake');
      if (needMpi) lines.push('                  then `module load mpi/openmpi-$(uname -m)` (or export MPI_HOME=/usr/lib64/openmpi)');
    }
    if (!os) lines.push('  macOS:          xcode-select --install; brew install open-mpi cmake');
  }
  if (needMpi) lines.push('An MPI installed elsewhere is found through MPI_HOME (its bin/ holds mpicc and mpirun).');
  return lines.join('\n');
}

function ensureTools() {
  let missing = missingTools();
  const required = missing.filter((m) => !m.optional);
  if (missing.length && isRoot && which('apt-get')) {
    const packages = [...new Set(missing.flatMap((m) => m.apt))];
    say(`tools: installing ${packages.join(' ')} (missing: ${missing.map((m) => m.tool).join(', ')})`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    // Only cmake missing must not stop an offline machine: it is not needed for the tests.
    const mayFail = required.length === 0;
    if (sh('apt-get', ['update'], { stream: true, env, mayFail }) !== undefined) {
      sh('apt-get', ['install', '-y', '--no-install-recommends', ...packages], { stream: true, env, mayFail });
    }
    missing = missingTools();
  } else if (required.length) {
    fail(`missing ${required.map((m) => m.tool).join(', ')}.\n${installHint(required)}`);
  }
  for (const m of missing) {
    if (!m.optional) fail(`still missing ${m.tool} after installing.\n${installHint([m])}`);
    say(`tools: warning: no ${m.tool}`);
  }
  const { mpicc, mpirun } = findMpi();
  say(`mpi: ${describeMpi(mpirun)} (${mpicc})`);
  return mpicc;
}

// ---------------------------------------------------------------------------------------------
// b. npm dependencies

// Headers that ship with this node (Debian's nodejs, the official tarballs): using them keeps
// node-gyp from downloading headers, which offline machines cannot do.
const nodedir = path.resolve(path.dirname(process.execPath), '..');
const hasLocalHeaders = existsSync(path.join(nodedir, 'include', 'node', 'node.h'));

function npm(args) {
  // Under `npm test` use the very npm that started us; otherwise the one on PATH.
  const execpath = process.env.npm_execpath;
  const [command, pre] = execpath && /\.[cm]?js$/.test(execpath) ? [process.execPath, [execpath]] : ['npm', []];
  const env = { ...process.env };
  if (hasLocalHeaders) env.npm_config_nodedir = nodedir; // for the addon build in our "install" script
  sh(command, [...pre, ...args, '--no-audit', '--no-fund'], { stream: true, env, what: `npm ${args.join(' ')}` });
}

/** Whether every declared dependency is installed in a version its range accepts. */
function dependenciesSatisfied(pkg) {
  const wanted = { ...pkg.dependencies, ...pkg.devDependencies, ...pkg.optionalDependencies };
  return Object.entries(wanted).every(([name, range]) => {
    try {
      const { version } = JSON.parse(readFileSync(path.join(root, 'node_modules', name, 'package.json'), 'utf8'));
      return satisfies(version, range);
    } catch {
      return false;
    }
  });
}

/** Enough of semver for the ranges package.json uses (^, ~, >=, exact, *); anything else says no. */
function satisfies(version, range) {
  range = range.trim();
  if (range === '*' || range === '' || range === 'latest') return true;
  const v = /^(\d+)\.(\d+)\.(\d+)/.exec(version)?.slice(1).map(Number);
  const m = /^(\^|~|>=|=)?v?(\d+)(?:\.(\d+|x|\*))?(?:\.(\d+|x|\*))?$/.exec(range);
  if (!v || !m) return false;
  const [, op = '=', ...parts] = m;
  const r = parts.map((p) => (p === undefined || p === 'x' || p === '*' ? undefined : Number(p)));
  const cmp = (a, b) => a.reduce((acc, x, i) => acc || Math.sign(x - (b[i] ?? 0)), 0);
  const atLeast = cmp(v, r.map((x) => x ?? 0)) >= 0;
  if (op === '>=') return atLeast;
  if (op === '^') {
    // ^1.2.3 := >=1.2.3 <2; ^0.5.6 := >=0.5.6 <0.6.0; ^0.0.3 := =0.0.3
    const fixed = r[0] !== 0 ? 1 : r[1] !== 0 && r[1] !== undefined ? 2 : 3;
    return atLeast && v.slice(0, fixed).every((x, i) => r[i] === undefined || x === r[i]);
  }
  if (op === '~') return atLeast && v[0] === r[0] && (r[1] === undefined || v[1] === r[1]);
  return v.every((x, i) => r[i] === undefined || x === r[i]);
}

function ensureDependencies() {
  const modules = path.join(root, 'node_modules');
  const marker = path.join(modules, '.package-lock.json'); // npm rewrites it on every install
  const pkgFile = path.join(root, 'package.json');
  const start = Date.now();
  if (!existsSync(modules)) {
    npm([existsSync(path.join(root, 'package-lock.json')) ? 'ci' : 'install']);
    say(`deps: installed in ${seconds(start)}`);
  } else if (mtime(pkgFile) > mtime(marker)) {
    // package.json also changes for scripts and metadata; only reinstall when a dependency is
    // actually missing or out of range, since npm may need the network to find out.
    if (existsSync(marker) && dependenciesSatisfied(JSON.parse(readFileSync(pkgFile, 'utf8')))) {
      const now = new Date();
      utimesSync(marker, now, now);
      say('deps: up to date');
    } else {
      npm(['install']);
      const now = new Date();
      if (existsSync(marker)) utimesSync(marker, now, now); // npm leaves it alone when nothing changed
      say(`deps: installed in ${seconds(start)}`);
    }
  } else {
    say('deps: up to date');
  }
}

// ---------------------------------------------------------------------------------------------
// c. the native addon

function localBin(pkg, bin) {
  // Run the tool's JS with this node rather than through node_modules/.bin, whose shebang would
  // pick whatever `node` is first on PATH and build against the wrong headers.
  const shim = path.join(root, 'node_modules', '.bin', bin);
  if (existsSync(shim)) return realpathSync(shim);
  fail(`node_modules/.bin/${bin} is missing: ${pkg} is not installed (run npm install)`);
}

function ensureAddon(mpicc) {
  const gyp = path.join(root, 'binding.gyp');
  const target = path.join(root, 'build', 'Release', 'mpi4node.node');
  if (!existsSync(gyp)) fail('binding.gyp is missing, cannot build the addon');
  const sources = Math.max(mtime(gyp), newest(path.join(root, 'native')));
  if (existsSync(target) && mtime(target) >= sources) return say('addon: up to date');

  const makefile = path.join(root, 'build', 'Makefile');
  const configured = existsSync(makefile) && existsSync(path.join(root, 'build', 'config.gypi')) && mtime(makefile) >= mtime(gyp);
  const action = configured ? 'build' : 'rebuild';
  const args = [localBin('node-gyp', 'node-gyp'), action, '-j', 'max'];
  if (hasLocalHeaders) args.push(`--nodedir=${nodedir}`);
  const start = Date.now();
  if (!quiet) process.stdout.write(`addon: node-gyp ${action}... `);
  partialLine = !quiet;
  // MPICC tells binding.gyp which MPI we found (it may not be the first mpicc on PATH).
  sh(process.execPath, args, { env: { ...process.env, MPICC: mpicc }, what: `node-gyp ${action}` });
  if (!existsSync(target) || mtime(target) < sources) fail(`node-gyp ${action} succeeded but did not produce build/Release/mpi4node.node (target_name in binding.gyp?)`);
  say(`built in ${seconds(start)}`);
}

// ---------------------------------------------------------------------------------------------
// c2. the same addon against MPICH, for the MPICH pass of the tests

// Both MPI families are tested on every run: the MPICH ABI (MPICH, Intel MPI, MVAPICH, Cray MPICH) is
// what most supercomputers run. Debian installs MPICH beside Open MPI without changing the default
// mpicc/mpirun (alternatives priority 40 vs 50). Built with cmake-js (FindMPI) into build-mpich/,
// since node-gyp has one build folder. MPI4NODE_NO_MPICH=1 skips it.
function ensureMpichAddon() {
  if (process.env.MPI4NODE_NO_MPICH === '1') return say('mpich: skipped (MPI4NODE_NO_MPICH=1)');
  if ((!which('mpicc.mpich') || !which('mpirun.mpich') || !which('cmake')) && isRoot && which('apt-get')) {
    say('mpich: installing mpich libmpich-dev cmake (beside Open MPI; the default mpirun is unchanged)');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const ok = sh('apt-get', ['install', '-y', '--no-install-recommends', 'mpich', 'libmpich-dev', 'cmake'], { stream: true, env, mayFail: true }) !== undefined ||
      (sh('apt-get', ['update'], { stream: true, env, mayFail: true }) !== undefined &&
        sh('apt-get', ['install', '-y', '--no-install-recommends', 'mpich', 'libmpich-dev', 'cmake'], { stream: true, env, mayFail: true }) !== undefined);
    if (!ok) return say('mpich: warning: could not install mpich libmpich-dev cmake; the MPICH pass of the tests will not run');
  }
  const mpicc = which('mpicc.mpich');
  if (!mpicc || !which('mpirun.mpich')) return say('mpich: not installed (apt-get install mpich libmpich-dev): the MPICH pass of the tests will not run');
  if (!which('cmake')) return say('mpich: no cmake (apt-get install cmake): the MPICH pass of the tests will not run');
  const target = path.join(root, 'build-mpich', 'Release', 'mpi4node.node');
  const sources = Math.max(mtime(path.join(root, 'binding.gyp')), mtime(path.join(root, 'CMakeLists.txt')), newest(path.join(root, 'native')));
  if (existsSync(target) && mtime(target) >= sources) return say('mpich: addon up to date');
  const start = Date.now();
  if (!quiet) process.stdout.write('mpich: cmake-js compile... ');
  partialLine = !quiet;
  const env = { ...process.env };
  if (hasLocalHeaders) env.npm_config_nodedir = nodedir;
  sh(process.execPath, [localBin('cmake-js', 'cmake-js'), 'compile', '--out', 'build-mpich', `--CDMPI_C_COMPILER=${mpicc}`], { env, what: 'cmake-js compile (MPICH)' });
  if (!existsSync(target)) fail('cmake-js succeeded but did not produce build-mpich/Release/mpi4node.node');
  say(`built in ${seconds(start)}`);
}

// ---------------------------------------------------------------------------------------------
// d. dist/

function ensureDist() {
  // ES modules, the CommonJS bundle and both sets of types; it checks freshness itself.
  const script = path.join(root, 'scripts', 'build-dist.mjs');
  if (!existsSync(script)) fail('scripts/build-dist.mjs is missing, cannot build dist/');
  const out = sh(process.execPath, [script], { what: 'node scripts/build-dist.mjs' }).trim();
  say(out.split('\n').pop() || 'dist: built');
  if (!existsSync(path.join(root, 'dist', 'index.js')) || !existsSync(path.join(root, 'dist', 'cjs', 'index.js'))) {
    fail('scripts/build-dist.mjs succeeded but wrote no dist/index.js or dist/cjs/index.js');
  }
}

const mpicc = ensureTools();
ensureDependencies();
ensureAddon(mpicc);
ensureMpichAddon();
ensureDist();
