#!/usr/bin/env node
// Builds the prebuilt addons the npm package ships, one per MPI ABI, for this platform:
//   prebuilds/<platform>-<arch>/mpi4node.openmpi.node  Open MPI (needs libmpi.so.40)
//   prebuilds/<platform>-<arch>/mpi4node.mpich.node    the MPICH ABI: MPICH, Intel MPI, MVAPICH, ...;
//        linked without the MPI library, which lib/addon/load.ts loads first (libmpi.so.12 upstream,
//        libmpich.so.12 on Debian/Ubuntu: the same ABI under two names)
// N-API: one binary serves every Node version >= 20. Both are built with cmake-js (CMake's FindMPI)
// into build-prebuild/<abi>/, without RPATH (the MPI library comes from the machine they run on),
// stripped, and loaded once here to check them. Runs at `npm pack` (prepack); nothing is committed.
//
//   node scripts/prebuild.mjs [openmpi] [mpich] [--force]    default: both; skips an up-to-date one
//
// The MPI of each: $MPI4NODE_PREBUILD_OPENMPI_MPICC / $MPI4NODE_PREBUILD_MPICH_MPICC, else Debian's
// mpicc.openmpi / mpicc.mpich, else `mpicc` when it is that family. MPI4NODE_PREBUILD=openmpi (or
// mpich) limits the default to one ABI. Only the host's platform is built: there is no cross toolchain
// here, so linux-arm64 gets no prebuild (npm install builds it from source there).
import { spawnSync } from 'node:child_process';
import { copyFileSync, chmodSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { localNodedir, missingLine, which, wrapperFamily } from './tools.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ABIS = ['openmpi', 'mpich'];
const NAME = { openmpi: 'Open MPI', mpich: 'MPICH' };
const platform = `${process.platform}-${process.arch}`;

const args = process.argv.slice(2);
const force = args.includes('--force');
let wanted = args.filter((a) => ABIS.includes(a));
if (wanted.length === 0) wanted = process.env.MPI4NODE_PREBUILD ? process.env.MPI4NODE_PREBUILD.split(',').map((s) => s.trim()) : ABIS;
for (const a of wanted) if (!ABIS.includes(a)) fail(`unknown MPI ABI '${a}' (openmpi or mpich)`);

function fail(message) {
  console.error(`prebuild: ${message}`);
  process.exit(1);
}

function mpiccFor(abi) {
  const explicit = process.env[`MPI4NODE_PREBUILD_${abi.toUpperCase()}_MPICC`];
  if (explicit) return which(explicit) ?? fail(`MPI4NODE_PREBUILD_${abi.toUpperCase()}_MPICC=${explicit} is not an executable`);
  const named = which(`mpicc.${abi}`);
  if (named) return named;
  const plain = which('mpicc');
  if (plain && wrapperFamily(plain) === abi) return plain;
  const pkg = abi === 'openmpi' ? 'libopenmpi-dev' : 'libmpich-dev';
  fail(`no ${NAME[abi]} compiler wrapper (mpicc.${abi}, or mpicc of that family): apt-get install ${pkg}, ` +
    `or set MPI4NODE_PREBUILD_${abi.toUpperCase()}_MPICC; MPI4NODE_PREBUILD=${ABIS.find((a) => a !== abi)} builds the other one only`);
}

const mtime = (f) => (existsSync(f) ? statSync(f).mtimeMs : 0);
function newest(dir) {
  let latest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    latest = Math.max(latest, e.isDirectory() ? newest(p) : mtime(p));
  }
  return latest;
}
const sources = Math.max(newest(path.join(root, 'native')), mtime(path.join(root, 'CMakeLists.txt')), mtime(path.join(root, 'binding.gyp')));

function sh(command, argv, env = process.env) {
  const r = spawnSync(command, argv, { cwd: root, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) {
    process.stderr.write(`${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n').slice(-60).join('\n'));
    fail(`${path.basename(command)} ${argv.slice(0, 2).join(' ')} failed (${r.error?.message ?? r.signal ?? `exit ${r.status}`})`);
  }
  return r.stdout;
}

/** Loads the prebuild in a fresh node the way lib/addon/load.ts does; returns the MPI's version line. */
function check(abi, file) {
  const probe = `
    const os = require('os');
    if (${JSON.stringify(abi)} === 'mpich') {
      const { RTLD_NOW, RTLD_GLOBAL } = os.constants.dlopen;
      let ok = false;
      for (const lib of ['libmpi.so.12', 'libmpich.so.12']) {
        try { process.dlopen({ exports: {} }, lib, RTLD_NOW | RTLD_GLOBAL | 0x1000); ok = true; }
        catch (e) { ok = /did not self-register/.test(e.message); }
        if (ok) break;
      }
    }
    const addon = require(${JSON.stringify(file)});
    console.log(addon.libraryVersion().split('\\n')[0].trim());`;
  const r = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8' });
  if (r.status !== 0) fail(`${path.relative(root, file)} does not load: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' ')}`);
  return r.stdout.trim();
}

const cmakeJs = path.join(root, 'node_modules', 'cmake-js', 'bin', 'cmake-js');
if (!existsSync(cmakeJs)) fail('node_modules/cmake-js is missing: run npm install');
if (!which('cmake')) fail(missingLine('cmake'));
const env = { ...process.env };
const nodedir = localNodedir();
if (nodedir && !env.npm_config_nodedir) env.npm_config_nodedir = nodedir;
const outDir = path.join(root, 'prebuilds', platform);
mkdirSync(outDir, { recursive: true });

for (const abi of wanted) {
  const target = path.join(outDir, `mpi4node.${abi}.node`);
  const rel = path.relative(root, target);
  if (!force && mtime(target) >= sources) {
    console.log(`prebuild: ${abi}: ${rel} is up to date (${check(abi, target)})`);
    continue;
  }
  const mpicc = mpiccFor(abi);
  const started = Date.now();
  const out = path.join('build-prebuild', abi);
  const defines = [`--CDMPI_C_COMPILER=${mpicc}`, '--CDCMAKE_SKIP_RPATH=ON', `--CDMPI4NODE_MPI_UNLINKED=${abi === 'mpich' ? 'ON' : 'OFF'}`];
  process.stdout.write(`prebuild: ${abi}: cmake-js against ${mpicc}... `);
  sh(process.execPath, [cmakeJs, 'configure', '--out', out, ...defines], env);
  sh(process.execPath, [cmakeJs, 'build', '--out', out], env);
  const built = path.join(root, out, 'Release', 'mpi4node.node');
  if (!existsSync(built)) fail(`cmake-js succeeded but wrote no ${path.relative(root, built)}`);
  copyFileSync(built, target);
  chmodSync(target, 0o755);
  if (which('strip')) sh('strip', ['--strip-unneeded', target]);
  const kb = Math.round(statSync(target).size / 1024);
  console.log(`${rel} (${kb} KiB, ${((Date.now() - started) / 1000).toFixed(0)}s): ${check(abi, target)}`);
}
