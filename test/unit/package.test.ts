// @timeout 600
// The package as a user gets it. `npm pack` once (prepack builds dist/, both prebuilds and docs/api),
// then from that one tarball:
//  - its content: what the README links to, both prebuilds, no build outputs or tests;
//  - its types for import and require (@arethetypeswrong/cli), and a .cts and a .mts that use them;
//  - installed offline-first into a fresh folder with no compiler, no make and no mpicc on PATH: the
//    prebuild loads, `mpi4node check -n 2` and a 2-rank job run on Open MPI, and on MPICH (mpirun.mpich)
//    when it is installed, where the loader must pick the MPICH prebuild by itself;
//  - require() from CommonJS;
//  - a requested source build without tools names each missing piece on one line;
//  - installed with a compiler and npm_config_build_from_source=true: build/Release is built and loads.
// Not repeated in the test runner's MPICH pass (it covers both MPIs itself).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
// Outside the checkout: node resolves packages through every parent folder's node_modules, and this
// checkout's would lend the installed package what it does not have (tsx, for one).
const work = mkdtempSync(path.join(os.tmpdir(), 'mpi4node-package-'));
const skip = process.env.MPI4NODE_ADDON !== undefined; // the runner's MPICH pass
const it = skip ? test.skip : test;

/** The environment of a user's shell: none of `npm test`'s npm_* variables (npm_config_local_prefix would point npm at this checkout), no addon override. */
function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_/i.test(k) || k === 'INIT_CWD' || k.startsWith('MPI4NODE_')) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && existsSync(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

function sh(command: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeout?: number }): SpawnSyncReturns<string> {
  return spawnSync(command, args, { cwd: opts.cwd, env: opts.env ?? userEnv(), encoding: 'utf8', timeout: opts.timeout ?? 120_000, maxBuffer: 64 << 20 });
}

const show = (r: SpawnSyncReturns<string>) => `exit ${r.status} ${r.signal ?? ''} ${r.error?.message ?? ''}\n${r.stdout}\n${r.stderr}`.slice(-5000);

/** A PATH of links to every program on PATH except compilers, make and MPI compiler wrappers. */
function pathWithoutTools(): string {
  const dir = path.join(work, 'no-compiler-bin');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const banned = /^(cc|c\+\+|c89|c99|cpp|gcc|g\+\+|clang|clang\+\+|make|gmake|mpicc|mpicxx|mpic\+\+|mpiCC|mpif77|mpif90|mpifort)(\..*)?$|^(gcc|g\+\+|cpp|clang)-[\d.]+$|-linux-gnu-/;
  for (const from of (process.env.PATH ?? '').split(path.delimiter)) {
    let names: string[] = [];
    try {
      names = readdirSync(from);
    } catch {
      continue;
    }
    for (const name of names) {
      if (banned.test(name) || existsSync(path.join(dir, name))) continue;
      try {
        if (statSync(path.join(from, name)).isFile()) symlinkSync(path.join(from, name), path.join(dir, name));
      } catch {
        // a dangling link
      }
    }
  }
  return dir;
}

const mpich = onPath('mpirun.mpich') !== undefined && onPath('mpicc.mpich') !== undefined;
let tarball = '';
let files: string[] = [];
let noTools = '';
const prebuilt = path.join(work, 'prebuilt'); // installed with no compiler
const fromSource = path.join(work, 'from-source'); // installed with npm_config_build_from_source=true

function freshProject(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: path.basename(dir), private: true }));
}

function install(dir: string, env: NodeJS.ProcessEnv): SpawnSyncReturns<string> {
  return sh('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--foreground-scripts', tarball], { cwd: dir, env, timeout: 400_000 });
}

function cli(dir: string, args: string[], env: NodeJS.ProcessEnv = userEnv()): SpawnSyncReturns<string> {
  return sh(process.execPath, [path.join(dir, 'node_modules', 'mpi4node', 'bin', 'mpi4node.js'), ...args], { cwd: dir, env });
}

it('npm pack: dist, both prebuilds, LICENSE, README, docs, examples, bin; no build outputs, no tests', () => {
  // Without MPICH only the Open MPI prebuild can be built here.
  const env = userEnv(mpich ? {} : { MPI4NODE_PREBUILD: 'openmpi' });
  const r = sh('npm', ['pack', '--json', '--pack-destination', work], { cwd: root, env, timeout: 400_000 });
  assert.is(r.status, 0, show(r));
  // Lifecycle scripts (prepack) print before npm's JSON, which starts on a line of its own.
  const lines = r.stdout.split('\n');
  const [info] = JSON.parse(lines.slice(lines.indexOf('[')).join('\n')) as { filename: string; size: number; files: { path: string }[] }[];
  tarball = path.join(work, info!.filename);
  files = info!.files.map((f) => f.path);
  assert.ok(existsSync(tarball), tarball);
  const has = (p: string) => files.includes(p);
  for (const p of ['LICENSE', 'README.md', 'package.json', 'bin/mpi4node.js', 'dist/index.js', 'dist/index.d.ts', 'dist/cjs/index.js',
    'dist/cjs/index.d.ts', 'dist/cjs/package.json', 'dist/cli/cli.js', 'dist/cli/smoke.js', 'scripts/install.mjs', 'scripts/mpi-flags.mjs',
    'binding.gyp', 'docs/collectives.md', 'docs/api/index.html', 'examples/demo.ts', 'prebuilds/linux-x64/mpi4node.openmpi.node']) {
    assert.ok(has(p), `${p} is not in the package`);
  }
  if (mpich) assert.ok(has('prebuilds/linux-x64/mpi4node.mpich.node'), 'the MPICH-ABI prebuild is not in the package');
  const banned = files.filter((p) => /^(build|build-cmake|build-mpich|build-prebuild|node_modules|test|bench|\.ci)\/|^scripts\/setup\.mjs$|\.tgz$|^prebuilds\/README/.test(p));
  assert.equal(banned, [], 'build outputs, tests or checkout-only files in the package');
  // Every relative link in the README resolves inside the package.
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  for (const m of readme.matchAll(/\]\(((?:docs|examples)\/[^)#\s]+)\)/g)) assert.ok(has(m[1]!), `README links to ${m[1]}, which is not in the package`);
});

it('the types resolve for import and require (arethetypeswrong)', () => {
  const attw = path.join(root, 'node_modules', '@arethetypeswrong', 'cli', 'dist', 'index.js');
  if (!existsSync(attw)) return; // not installed: nothing to check with
  const r = sh(process.execPath, [attw, tarball, '--format', 'json'], { cwd: work });
  const report = JSON.parse(r.stdout) as { analysis: { problems: unknown[] } };
  assert.equal(report.analysis.problems, [], r.stdout.slice(0, 3000));
});

it('installed with no compiler, no make and no mpicc on PATH: the prebuild loads, check -n 2 and a 2-rank job run (Open MPI)', () => {
  noTools = pathWithoutTools();
  freshProject(prebuilt);
  const env = userEnv({ PATH: noTools });
  const i = install(prebuilt, env);
  assert.is(i.status, 0, show(i));
  assert.match(i.stdout, /mpi4node: using the prebuilt prebuilds\/linux-x64\/mpi4node\.openmpi\.node/);
  assert.not.ok(existsSync(path.join(prebuilt, 'node_modules', 'mpi4node', 'build')), 'something was built');
  assert.not.ok(existsSync(path.join(prebuilt, 'node_modules', 'tsx')), 'tsx was installed: it is an optional peer');

  const v = cli(prebuilt, ['--version'], env);
  assert.is(v.stdout.trim(), '0.1.0', show(v));
  const info = cli(prebuilt, ['info'], env);
  assert.is(info.status, 0, show(info));
  assert.match(info.stdout, /addon: +\S+prebuilds\/linux-x64\/mpi4node\.openmpi\.node \(prebuilt\)/);
  assert.match(info.stdout, /library: +\S*libmpi\.so\.40/);
  assert.match(info.stdout, /MPI: +Open MPI v/);
  assert.match(info.stdout, /launcher: +\S*mpirun\S* \(Open MPI/);
  assert.match(info.stdout, /threads: +up to '/);
  assert.match(info.stdout, /gpu: +/);

  const check = cli(prebuilt, ['check', '-n', '2'], env);
  assert.is(check.status, 0, show(check));
  assert.match(check.stdout, /Hello, World! I am process 0 of 2/);
  assert.match(check.stdout, /Hello, World! I am process 1 of 2/);
  assert.match(check.stdout, /round trip 0 <-> 1: .* data intact/);
  assert.match(check.stdout, /check passed: 2 rank\(s\), Open MPI/);

  writeFileSync(path.join(prebuilt, 'job.mjs'), [
    "import { world, libraryVersion } from 'mpi4node';",
    "const [sum] = world.allreduce(new Int32Array([world.rank + 1]), 'sum');",
    "console.log(JSON.stringify({ rank: world.rank, size: world.size, sum, mpi: libraryVersion().split('\\n')[0] }));",
  ].join('\n'));
  const job = cli(prebuilt, ['run', '-n', '2', 'job.mjs'], env);
  assert.is(job.status, 0, show(job));
  const ranks = job.stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { rank: number; size: number; sum: number; mpi: string });
  assert.equal(ranks.map((r) => r.rank).sort(), [0, 1]);
  for (const r of ranks) {
    assert.is(r.size, 2);
    assert.is(r.sum, 3);
    assert.match(r.mpi, /Open MPI/);
  }
});

it('on MPICH (when installed): under mpirun.mpich the loader picks the MPICH-ABI prebuild by itself', () => {
  if (!mpich) return;
  const env = userEnv({ PATH: noTools });
  const job = sh(onPath('mpirun.mpich')!, ['-n', '2', process.execPath, 'job.mjs'], { cwd: prebuilt, env });
  assert.is(job.status, 0, show(job));
  const ranks = job.stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { size: number; sum: number; mpi: string });
  assert.is(ranks.length, 2, job.stdout);
  for (const r of ranks) {
    assert.is(r.size, 2, 'MPICH ranks running the Open MPI build would each see a world of 1');
    assert.is(r.sum, 3);
    assert.match(r.mpi, /MPICH/);
  }
  const check = cli(prebuilt, ['check', '-n', '2'], userEnv({ PATH: noTools, MPI4NODE_MPI: 'mpich' }));
  assert.is(check.status, 0, show(check));
  assert.match(check.stdout, /check passed: 2 rank\(s\), MPICH/);
  const info = cli(prebuilt, ['info'], userEnv({ PATH: noTools, MPI4NODE_MPI: 'mpich' }));
  assert.match(info.stdout, /addon: +\S+mpi4node\.mpich\.node \(prebuilt\)/);
  assert.match(info.stdout, /library: +\S*libmpich\.so\.12\S* \(loaded as libmpi(ch)?\.so\.12\)/);
  assert.match(info.stdout, /launcher: +\S*mpirun\.mpich \(MPICH/);
});

it('require() from CommonJS works (not together with import), and a .cts and a .mts type-check against the package', () => {
  writeFileSync(path.join(prebuilt, 'job.cjs'), [
    "const m = require('mpi4node');",
    "const sum = m.world.allreduce(new Float64Array([2.5]), 'sum');",
    "console.log(JSON.stringify({ size: m.world.size, sum: sum[0], errorClass: typeof m.AddonLoadError, gpu: typeof m.gpu.status }));",
  ].join('\n'));
  const r = sh(process.execPath, ['job.cjs'], { cwd: prebuilt, env: userEnv({ PATH: noTools }) });
  assert.is(r.status, 0, show(r));
  assert.equal(JSON.parse(r.stdout.trim().split('\n').pop()!), { size: 1, sum: 2.5, errorClass: 'function', gpu: 'function' });

  // import and require in one process: two copies of the library, the second refused with the reason.
  writeFileSync(path.join(prebuilt, 'both.mjs'), [
    "import { createRequire } from 'node:module';",
    "const { world } = await import('mpi4node');",
    "try { createRequire(import.meta.url)('mpi4node'); console.log('no error'); } catch (e) { console.log(e.name + ': ' + e.message); }",
    'console.log(world.size);',
  ].join('\n'));
  const both = sh(process.execPath, ['both.mjs'], { cwd: prebuilt, env: userEnv({ PATH: noTools }) });
  assert.is(both.status, 0, show(both));
  assert.match(both.stdout, /AddonLoadError: mpi4node: loaded twice in one thread, by \S+dist\/addon\/load\.js and by \S+dist\/cjs\/index\.js/);

  writeFileSync(path.join(prebuilt, 'use.cts'), "import m = require('mpi4node');\nconst n: number = m.world.size;\nconst l: string = m.libraryVersion();\nexport = [n, l];\n");
  writeFileSync(path.join(prebuilt, 'use.mts'), "import { world, type Dtype } from 'mpi4node';\nconst d: Dtype = 'float32';\nexport const n: number = world.size + d.length;\n");
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const t = sh(process.execPath, [tsc, '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--types', 'node',
    '--typeRoots', path.join(root, 'node_modules', '@types'), 'use.cts', 'use.mts'], { cwd: prebuilt });
  assert.is(t.status, 0, show(t));
});

it('a .ts job without tsx on a Node without type stripping says what to install', () => {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  if (major > 22 || (major === 22 && minor >= 6)) return; // Node strips types itself
  writeFileSync(path.join(prebuilt, 'job.ts'), "import { world } from 'mpi4node';\nconst n: number = world.size;\nconsole.log(n);\n");
  const r = cli(prebuilt, ['run', '-n', '2', 'job.ts'], userEnv({ PATH: noTools }));
  assert.is(r.status, 1, show(r));
  assert.match(r.stderr, /job\.ts is TypeScript.*install tsx \(npm install --save-dev tsx\), use Node >= 22\.6/);
});

it('a source build asked for without the tools names each missing piece on one line, with its install command', () => {
  const r = sh(process.execPath, [path.join('node_modules', 'mpi4node', 'scripts', 'install.mjs')], {
    cwd: prebuilt, env: userEnv({ PATH: noTools, MPI4NODE_BUILD_FROM_SOURCE: '1' }),
  });
  assert.is(r.status, 1, show(r));
  const lines = r.stderr.trim().split('\n');
  for (const what of [/missing make\. Install it: .*apt-get install make/, /missing a C\+\+ compiler .*Install it: .*apt-get install g\+\+/, /missing mpicc .*Install it: .*apt-get install libopenmpi-dev/]) {
    assert.ok(lines.some((l) => what.test(l)), `no line matching ${what}:\n${r.stderr}`);
  }
  assert.ok(lines.every((l) => l.startsWith('mpi4node: ')), r.stderr);
  assert.not.match(r.stderr, /ENOENT|\n\s+at /);
});

it('installed with a compiler and npm_config_build_from_source=true: build/Release is built, and it is what loads', () => {
  freshProject(fromSource);
  const i = install(fromSource, userEnv({ npm_config_build_from_source: 'true' }));
  assert.is(i.status, 0, show(i));
  assert.match(i.stdout, /mpi4node: building from source against \S+mpicc/);
  assert.match(i.stdout, /mpi4node: built build\/Release\/mpi4node\.node in \d+s: Open MPI/);
  const info = cli(fromSource, ['info']);
  assert.is(info.status, 0, show(info));
  assert.match(info.stdout, /addon: +\S+\/node_modules\/mpi4node\/build\/Release\/mpi4node\.node \(built from source\)/);
  const check = cli(fromSource, ['check', '-n', '2']);
  assert.is(check.status, 0, show(check));
  assert.match(check.stdout, /check passed: 2 rank\(s\)/);
});

test.after(() => {
  rmSync(work, { recursive: true, force: true });
});

test.run();
