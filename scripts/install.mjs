#!/usr/bin/env node
// npm's install step for mpi4node (package.json "install"; also what `npm rebuild mpi4node` runs).
// Node builtins only: it runs before anything else can be relied on.
//
//  1. Build from source when asked: MPI4NODE_BUILD_FROM_SOURCE=1, npm_config_build_from_source=true
//     (`--build-from-source`, which npm 11 warns it does not know), or MPICC, MPI_HOME (npm_config_mpi_home)
//     set: they name an MPI to build against, so `MPICC=mpicc.mpich npm rebuild mpi4node` really rebuilds.
//  2. Otherwise keep what loads, chosen as at run time (lib/addon/load.ts): a source build already in
//     build/, else the prebuilt binary whose MPI library is on this machine.
//  3. Otherwise build from source.
// A source build checks its tools first and names each missing piece on one line, with the command
// that installs it. MPI4NODE_INSTALL_VERBOSE=1 shows node-gyp's output on success too.
import { spawnSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { mpiFlags, mpiHeader } from './mpi-flags.mjs';
import { findMpicc, localNodedir, missingLine, which } from './tools.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const say = (line) => console.log(`mpi4node: ${line}`);

/** Why the user asked for a source build, or undefined. */
export function sourceBuildReason(env = process.env) {
  if (env.MPI4NODE_BUILD_FROM_SOURCE && env.MPI4NODE_BUILD_FROM_SOURCE !== '0') return `MPI4NODE_BUILD_FROM_SOURCE=${env.MPI4NODE_BUILD_FROM_SOURCE}`;
  const flag = env.npm_config_build_from_source;
  if (flag && flag !== 'false' && (flag === 'true' || flag.split(',').includes('mpi4node'))) return 'npm_config_build_from_source is set (--build-from-source)';
  if (env.MPICC) return `MPICC=${env.MPICC}`;
  if (env.MPI_HOME) return `MPI_HOME=${env.MPI_HOME}`;
  if (env.npm_config_mpi_home) return `npm_config_mpi_home=${env.npm_config_mpi_home}`;
  return undefined;
}

/**
 * Loads the addon in a child node the way mpi4node will (dist's loader), without MPI4NODE_ADDON.
 * Returns { ok, from, kind, abi, library, version } or { ok: false, error }.
 */
export function probe(extraEnv = {}) {
  const loader = path.join(root, 'dist', 'addon', 'load.js');
  // A checkout has no dist/ until it is built; npm installed the devDependencies that build it
  // before running this step. The package always ships dist/ (and not this script).
  const buildDist = path.join(root, 'scripts', 'build-dist.mjs');
  if (!existsSync(loader) && existsSync(buildDist)) {
    const b = spawnSync(process.execPath, [buildDist], { cwd: root, encoding: 'utf8', timeout: 300_000 });
    if (b.status !== 0) return { ok: false, error: `dist/ is not built and scripts/build-dist.mjs failed: ${`${b.stderr || b.stdout || b.error?.message}`.trim().split('\n').pop()}` };
  }
  if (!existsSync(loader)) return { ok: false, error: 'dist/ is not built' };
  const script = `
    const m = await import(${JSON.stringify(pathToFileURL(loader).href)});
    try {
      const addon = m.loadAddon();
      const l = m.loaded;
      console.log(JSON.stringify({ ok: true, from: l.path, kind: l.kind, abi: l.abi, library: l.mpiLibrary, version: addon.libraryVersion().split('\\n')[0].trim() }));
    } catch (e) {
      console.log(JSON.stringify({ ok: false, error: e.message, tried: e.tried ?? [] }));
    }`;
  const env = { ...process.env, ...extraEnv };
  delete env.MPI4NODE_ADDON;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env, encoding: 'utf8', timeout: 60_000 });
  try {
    return JSON.parse(r.stdout.trim().split('\n').pop());
  } catch {
    return { ok: false, error: `${r.stderr || r.stdout || r.error?.message || `exit ${r.status}`}`.trim().split('\n')[0] };
  }
}

/** The one-line problems that stop a source build, checked before node-gyp runs. */
export function buildProblems(env = process.env) {
  const problems = [];
  if (!which('make', env)) problems.push(missingLine('make'));
  const cxx = env.CXX ? which(env.CXX.split(/\s+/)[0], env) : ['g++', 'c++', 'clang++'].map((c) => which(c, env)).find(Boolean);
  if (!cxx) problems.push(missingLine('a C++ compiler', env.CXX ? `CXX=${env.CXX} not found` : 'g++, c++ or clang++'));
  const python = env.PYTHON || env.npm_config_python;
  if (python ? !which(python, env) : !which('python3', env) && !which('python', env)) problems.push(missingLine('python3 (node-gyp runs it)'));
  const explicit = env.MPICC || env.MPI_HOME || env.npm_config_mpi_home;
  let mpicc;
  try {
    mpicc = findMpicc(env);
  } catch (e) {
    problems.push(explicit ? `mpi4node: ${e.message}` : missingLine('mpicc (an MPI with its headers)', e.message));
  }
  if (mpicc) {
    try {
      const flags = mpiFlags(env);
      if (!mpiHeader(flags.includeDirs)) problems.push(missingLine('mpi.h (the MPI headers)', `${mpicc} names no folder holding it`));
    } catch (e) {
      problems.push(`mpi4node: ${e.message}`);
    }
  }
  return { problems, mpicc };
}

/** node-gyp: npm's own (npm_config_node_gyp), else a local one, else the one on PATH, else the one npm bundles. */
function nodeGyp(env) {
  if (env.npm_config_node_gyp && existsSync(env.npm_config_node_gyp)) return [process.execPath, [env.npm_config_node_gyp]];
  try {
    return [process.execPath, [createRequire(path.join(root, 'package.json')).resolve('node-gyp/bin/node-gyp.js')]];
  } catch {
    // not installed beside us
  }
  const onPath = which('node-gyp', env);
  if (onPath) return [onPath, []];
  const npm = which('npm', env);
  const bundled = npm && path.join(path.dirname(realpathSync(npm)), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (bundled && existsSync(bundled)) return [process.execPath, [bundled]];
  return undefined;
}

function buildFromSource(reason) {
  const env = { ...process.env };
  const { problems, mpicc } = buildProblems(env);
  const gyp = nodeGyp(env);
  if (!gyp) problems.push('mpi4node: missing node-gyp (npm ships it: run this through npm, or npm install -g node-gyp)');
  if (problems.length) {
    for (const p of problems) console.error(p);
    console.error(`mpi4node: cannot build from source (${reason}); fix the above and run: npm rebuild mpi4node`);
    process.exit(1);
  }
  // Node's headers: node-gyp downloads them unless told where a local copy is (offline machines).
  const nodedir = localNodedir();
  if (nodedir && !env.npm_config_nodedir) env.npm_config_nodedir = nodedir;
  env.MPICC = mpicc; // binding.gyp asks scripts/mpi-flags.mjs, which reads it
  say(`building from source against ${mpicc} (${reason})...`);
  const started = Date.now();
  const [command, pre] = gyp;
  const verbose = process.env.MPI4NODE_INSTALL_VERBOSE === '1';
  const r = spawnSync(command, [...pre, 'rebuild', '-j', 'max'], { cwd: root, env, stdio: verbose ? 'inherit' : ['ignore', 'pipe', 'pipe'], encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) {
    if (!verbose) process.stderr.write(`${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n').slice(-80).join('\n') + '\n');
    const headers = /gyp: .*(headers|tarball|nodejs\.org)|ENOTFOUND|EAI_AGAIN/.test(`${r.stdout}${r.stderr}`);
    console.error(
      headers
        ? "mpi4node: node-gyp could not get Node's headers (offline?): set npm_config_nodedir to a Node installation holding include/node/node.h"
        : `mpi4node: the source build failed (node-gyp rebuild: ${r.error?.message ?? r.signal ?? `exit ${r.status}`}); the lines above say why`,
    );
    process.exit(1);
  }
  const built = path.join(root, 'build', 'Release', 'mpi4node.node');
  const p = probe();
  if (!p.ok || p.from !== built) {
    console.error(`mpi4node: built ${path.relative(root, built)}, but it does not load: ${p.ok ? `${p.from} loads first` : p.error}`);
    process.exit(1);
  }
  say(`built ${path.relative(root, built)} in ${((Date.now() - started) / 1000).toFixed(0)}s: ${p.version}`);
}

function main() {
  const reason = sourceBuildReason();
  if (reason) return buildFromSource(reason);
  const p = probe();
  if (p.ok) {
    const what = p.kind === 'prebuild' ? 'the prebuilt' : 'the source-built';
    say(`using ${what} ${path.relative(root, p.from)}: ${p.version}${p.library ? ` (${p.library})` : ''}`);
    return;
  }
  const why = (p.tried ?? []).filter((t) => t.error !== 'not found').map((t) => `${path.basename(t.path)}: ${t.error}`);
  say(`no prebuilt addon loads here (${why.length ? why.join('; ') : p.error.split('\n')[0]}); building from source`);
  if (process.env.MPI4NODE_INSTALL_VERBOSE === '1') console.log(p.error);
  buildFromSource('no prebuilt binary loads');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
