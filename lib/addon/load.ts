// Loads the addon. The first candidate that loads wins, in this order:
//  1. MPI4NODE_ADDON=/path/to/mpi4node.node: that file and nothing else (an explicit choice is never
//     silently replaced by another build).
//  2. A source build inside the package: build/Release (node-gyp: `npm rebuild mpi4node
//     --build-from-source`), then build-cmake/Release (cmake-js). A user who rebuilt against their
//     cluster's MPI gets that build, whatever prebuilds ship.
//  3. The prebuilt binaries, one per MPI ABI: prebuilds/<platform>-<arch>/mpi4node.openmpi.node (Open
//     MPI, libmpi.so.40) and mpi4node.mpich.node (the MPICH ABI: MPICH, Intel MPI, MVAPICH, ...), in
//     the order: MPI4NODE_MPI=openmpi|mpich (that one only); else the family the launcher's environment
//     names (OMPI_COMM_WORLD_SIZE: Open MPI; PMI_RANK, PMI_SIZE, MPI_LOCALNRANKS, HYDRA_*: MPICH) first;
//     else Open MPI, then MPICH.
// MPI4NODE_MPI also skips source builds made against the other family.
//
// The MPICH-ABI prebuild is linked without the MPI library (those MPIs disagree on its file name:
// libmpi.so.12 upstream, Intel MPI and MVAPICH; libmpich.so.12 on Debian and Ubuntu), so it is loaded
// here first, RTLD_GLOBAL: MPI4NODE_MPI_LIBRARY if set, else the first of those names that loads.
// When nothing loads, the error lists every file tried with its error, the MPI libraries found on
// the library path, and one fix per case.
import { createRequire } from 'node:module';
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AddonLoadError } from '../core/errors.js';
import type { Native } from './native.js';

const require = createRequire(import.meta.url);
/** This copy of the loader (dist/ ESM, dist/cjs, or lib/ under tsx): see claim() below. */
const SELF = import.meta.url;

/** The folder holding mpi4node's package.json, found upwards from this file (lib/, dist/, dist/cjs/). */
function findPackageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      if (JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).name === 'mpi4node') return dir;
    } catch {
      // no package.json here, or not ours (dist/cjs/package.json only sets the module type)
    }
    const up = path.dirname(dir);
    if (up === dir) return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
    dir = up;
  }
}

export const packageRoot = findPackageRoot();

export type MpiAbi = 'openmpi' | 'mpich';
export type AddonKind = 'explicit' | 'source' | 'prebuild';

export interface AddonCandidate {
  path: string;
  kind: AddonKind;
  /** The ABI a prebuild is for (from its name); undefined for the others until read from the file. */
  abi?: MpiAbi;
}

export interface LoadedAddon {
  path: string;
  kind: AddonKind;
  abi: MpiAbi | undefined;
  /** The MPI library loaded before an MPICH-ABI prebuild (a name like libmpich.so.12, or a path). */
  mpiLibrary?: string;
}

const ABI_NAME: Record<MpiAbi, string> = { openmpi: 'Open MPI', mpich: 'MPICH ABI' };

/** Library names of the MPICH ABI, tried in this order when MPI4NODE_MPI_LIBRARY is not set. */
export const MPICH_ABI_LIBRARIES = ['libmpi.so.12', 'libmpich.so.12'];

/** The prebuilt addon for one ABI on this platform. */
export function prebuildPath(abi: MpiAbi, root = packageRoot): string {
  return path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, `mpi4node.${abi}.node`);
}

/** The MPI family the launcher that started this process belongs to, from its environment. */
export function launcherFamily(env: NodeJS.ProcessEnv = process.env): { abi: MpiAbi; variable: string } | undefined {
  if (env.OMPI_COMM_WORLD_SIZE !== undefined) return { abi: 'openmpi', variable: 'OMPI_COMM_WORLD_SIZE' };
  for (const variable of ['PMI_RANK', 'PMI_SIZE', 'MPI_LOCALNRANKS']) {
    if (env[variable] !== undefined) return { abi: 'mpich', variable };
  }
  const hydra = Object.keys(env).find((k) => k.startsWith('HYDRA_'));
  return hydra ? { abi: 'mpich', variable: hydra } : undefined;
}

/** MPI4NODE_MPI, checked. */
function requestedAbi(env: NodeJS.ProcessEnv): MpiAbi | undefined {
  const v = env.MPI4NODE_MPI?.trim().toLowerCase();
  if (!v) return undefined;
  if (v === 'openmpi' || v === 'mpich') return v;
  throw new AddonLoadError(`mpi4node: MPI4NODE_MPI must be 'openmpi' or 'mpich' (the MPICH ABI: MPICH, Intel MPI, MVAPICH), got '${env.MPI4NODE_MPI}'.`, []);
}

/** The prebuild ABIs in the order they are tried (see the top of this file). */
export function prebuildOrder(env: NodeJS.ProcessEnv = process.env): MpiAbi[] {
  const wanted = requestedAbi(env);
  if (wanted) return [wanted];
  return launcherFamily(env)?.abi === 'mpich' ? ['mpich', 'openmpi'] : ['openmpi', 'mpich'];
}

/** Every candidate, in the order tried. */
export function addonCandidateList(root = packageRoot, env: NodeJS.ProcessEnv = process.env): AddonCandidate[] {
  if (env.MPI4NODE_ADDON) return [{ path: path.resolve(env.MPI4NODE_ADDON), kind: 'explicit' }];
  return [
    { path: path.join(root, 'build', 'Release', 'mpi4node.node'), kind: 'source' },
    { path: path.join(root, 'build-cmake', 'Release', 'mpi4node.node'), kind: 'source' },
    ...prebuildOrder(env).map((abi): AddonCandidate => ({ path: prebuildPath(abi, root), kind: 'prebuild', abi })),
  ];
}

/** The addon files tried, in order. */
export function addonCandidates(root = packageRoot): string[] {
  return addonCandidateList(root).map((c) => c.path);
}

/** The file the addon was loaded from (for `mpi4node info` and tests). */
export let loadedFrom = '';
/** What loadAddon() loaded in this thread: the file, how it was chosen, and for MPICH prebuilds the MPI library. */
export let loaded: LoadedAddon | undefined;

/**
 * The MPI ABI an addon file was built for, read from the library names it needs (no loading):
 * libmpi.so.40 is Open MPI's; libmpich.so.12 / libmpi.so.12 the MPICH ABI's (MPICH, Intel MPI, MVAPICH,
 * Cray MPICH). A prebuild linked without its MPI library is known by its name (mpi4node.mpich.node).
 * Undefined when the file is missing or says neither.
 */
export function mpiAbiOf(file: string): MpiAbi | undefined {
  const text = fileHead(file);
  if (text === undefined) return undefined;
  if (text.includes('libmpi.so.40')) return 'openmpi';
  if (/\0lib(mpich|mpi)\.so\.12\0/.test(text)) return 'mpich';
  return /^mpi4node\.(openmpi|mpich)\.node$/.exec(path.basename(file))?.[1] as MpiAbi | undefined;
}

/** True for an addon that does not name its MPI library (the MPICH-ABI prebuild): it must be loaded first. */
function needsMpiLibrary(file: string): boolean {
  const text = fileHead(file);
  return text !== undefined && !/\0lib(mpich|mpi)\.so\.\d+\0/.test(text) && mpiAbiOf(file) === 'mpich';
}

// DT_NEEDED names sit in .dynstr near the start of the file; 2 MiB covers any build of ours. The last
// file's text is kept while the file is unchanged: every rank loads the addon, and each look (three
// per load) reading the whole file again into a buffer of its own held 4.7 MB of ArrayBuffers after
// the import, 1.2 MB now (1.4 MB less resident; one rank, Open MPI).
let lastHead: { key: string; text: string } | undefined;
function fileHead(file: string): string | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const st = fstatSync(fd);
    const key = `${path.resolve(file)}\0${st.dev}\0${st.ino}\0${st.size}\0${st.mtimeMs}`;
    if (lastHead?.key === key) return lastHead.text;
    const head = Buffer.allocUnsafe(Math.min(st.size, 2 << 20));
    const text = head.subarray(0, readSync(fd, head, 0, head.length, 0)).toString('latin1');
    lastHead = { key, text };
    return text;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------------
// Finding MPI libraries without loading them (for choosing an mpirun, and for the failure report)

/** Directories searched by the dynamic linker besides LD_LIBRARY_PATH and ld.so.cache. */
const DEFAULT_LIB_DIRS = ['/lib64', '/usr/lib64', '/lib', '/usr/lib', `/lib/${os.arch() === 'x64' ? 'x86_64' : 'aarch64'}-linux-gnu`, `/usr/lib/${os.arch() === 'x64' ? 'x86_64' : 'aarch64'}-linux-gnu`];

let ldCache: Map<string, string> | undefined;

/** soname -> path, from /etc/ld.so.cache (glibc's format 1.1); empty when it cannot be read. */
function readLdCache(): Map<string, string> {
  if (ldCache) return ldCache;
  ldCache = new Map();
  try {
    const buf = readFileSync('/etc/ld.so.cache');
    const base = buf.indexOf('glibc-ld.so.cache1.1');
    if (base < 0) return ldCache;
    const nlibs = buf.readUInt32LE(base + 20);
    const cstr = (at: number) => buf.toString('latin1', base + at, buf.indexOf(0, base + at));
    for (let i = 0; i < nlibs; i++) {
      const entry = base + 48 + i * 24;
      const key = cstr(buf.readUInt32LE(entry + 4));
      if (!ldCache.has(key)) ldCache.set(key, cstr(buf.readUInt32LE(entry + 8)));
    }
  } catch {
    // no cache (musl, a minimal container): the directory scan below still runs
  }
  return ldCache;
}

/** Where the dynamic linker would find `soname` (LD_LIBRARY_PATH, ld.so.cache, default folders), or undefined. */
export function findLibrary(soname: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (soname.includes('/')) return existsSync(soname) ? soname : undefined;
  for (const dir of (env.LD_LIBRARY_PATH ?? '').split(':')) {
    if (dir && existsSync(path.join(dir, soname))) return path.join(dir, soname);
  }
  const cached = readLdCache().get(soname);
  if (cached && existsSync(cached)) return cached;
  for (const dir of DEFAULT_LIB_DIRS) if (existsSync(path.join(dir, soname))) return path.join(dir, soname);
  return undefined;
}

/** The MPI libraries the dynamic linker can find, by soname (for the failure report and `mpi4node info`). */
export function mpiLibrariesFound(env: NodeJS.ProcessEnv = process.env): { soname: string; abi: MpiAbi; path?: string }[] {
  const explicit = env.MPI4NODE_MPI_LIBRARY ? [{ soname: env.MPI4NODE_MPI_LIBRARY, abi: 'mpich' as const }] : [];
  return [
    { soname: 'libmpi.so.40', abi: 'openmpi' as const },
    ...explicit,
    ...MPICH_ABI_LIBRARIES.map((soname) => ({ soname, abi: 'mpich' as const })),
  ].map((l) => ({ ...l, path: findLibrary(l.soname, env) }));
}

/** Whether the MPI library an addon needs can be found, without loading anything. */
function mpiLibraryResolves(abi: MpiAbi | undefined, env: NodeJS.ProcessEnv): boolean {
  if (abi === 'openmpi') return findLibrary('libmpi.so.40', env) !== undefined;
  if (abi === 'mpich') {
    if (env.MPI4NODE_MPI_LIBRARY) return findLibrary(env.MPI4NODE_MPI_LIBRARY, env) !== undefined;
    return MPICH_ABI_LIBRARIES.some((l) => findLibrary(l, env) !== undefined);
  }
  return false;
}

/**
 * The ABI of the addon that loadAddon() would load (for choosing the matching mpirun), decided without
 * loading it: the explicit file or a source build by what it links; a prebuild when its MPI library
 * can be found. The one already loaded in this thread, if any.
 */
export function addonAbi(root = packageRoot, env: NodeJS.ProcessEnv = process.env): MpiAbi | undefined {
  if (loaded && root === packageRoot && (!env.MPI4NODE_ADDON || path.resolve(env.MPI4NODE_ADDON) === loaded.path)) return loaded.abi;
  let wanted: MpiAbi | undefined;
  try {
    wanted = requestedAbi(env);
  } catch {
    wanted = undefined;
  }
  for (const c of addonCandidateList(root, env)) {
    if (!existsSync(c.path)) continue;
    const abi = c.abi ?? mpiAbiOf(c.path);
    if (c.kind === 'explicit') return abi;
    if (wanted && abi !== wanted) continue;
    if (c.kind === 'source' || mpiLibraryResolves(abi, env)) return abi;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Loading

const RTLD_NODELETE = 0x1000; // glibc's value; os.constants.dlopen does not list it

/** Loads the MPICH-ABI library RTLD_GLOBAL so that an addon linked without it finds MPI's symbols. */
function loadMpichAbiLibrary(env: NodeJS.ProcessEnv): { library?: string; errors: string[] } {
  const names = env.MPI4NODE_MPI_LIBRARY ? [env.MPI4NODE_MPI_LIBRARY] : MPICH_ABI_LIBRARIES;
  const errors: string[] = [];
  const { RTLD_NOW, RTLD_GLOBAL } = os.constants.dlopen as Record<string, number>;
  for (const name of names) {
    try {
      // process.dlopen is Node's only dlopen. A plain library is not an addon, so it throws "did not
      // self-register" after loading it; RTLD_NODELETE keeps it loaded when Node then closes the handle.
      process.dlopen({ exports: {} }, name, (RTLD_NOW ?? 2) | (RTLD_GLOBAL ?? 0x100) | RTLD_NODELETE);
      return { library: name, errors };
    } catch (e) {
      const message = (e as Error).message.split('\n')[0]!;
      if (/did not self-register/.test(message)) return { library: name, errors };
      errors.push(message);
    }
  }
  return { errors };
}

const OWNER = Symbol.for('mpi4node.addon.owner');
/** The MPICH-ABI library loaded RTLD_GLOBAL in this thread, if any: an Open MPI addon must not load after it. */
let mpichLibraryLoaded: string | undefined;

/**
 * One copy of mpi4node's JavaScript per process (per worker thread): `require('mpi4node')` and `import
 * 'mpi4node'` load two copies (dist/cjs and dist/), and the addon, loaded once per thread, can serve only
 * one of them (it writes statuses and completions into that copy's arrays). The second copy fails here
 * instead of silently reading stale results.
 */
function claim(addon: Native, file: string): void {
  const owner = (addon as unknown as Record<symbol, string | undefined>)[OWNER];
  if (owner === undefined) {
    Object.defineProperty(addon, OWNER, { value: SELF });
  } else if (owner !== SELF) {
    throw new AddonLoadError(
      `mpi4node: loaded twice in one thread, by ${owner} and by ${SELF}: once through require() and once ` +
        'through import (or from two installed copies). The two copies cannot share the addon (' + file + '). ' +
        "Load it one way: import it everywhere (CommonJS code can use `await import('mpi4node')`), or require it everywhere.",
      [{ path: file, error: `already in use by ${owner}` }],
    );
  }
}

function describe(c: AddonCandidate): string {
  const abi = c.abi ?? (existsSync(c.path) ? mpiAbiOf(c.path) : undefined);
  return abi ? `${c.path} (${c.kind}, ${ABI_NAME[abi]})` : `${c.path} (${c.kind})`;
}

/**
 * UCX (MPICH's ch4:ucx, Open MPI's pml ucx) tests its memory hooks when its library loads by moving the
 * program break up a page and back down, ignoring whether the way up worked. In Node the heap often
 * ends right below a V8 mapping: the way up fails, the way down unmaps the last page of malloc's heap,
 * and the process dies later on whatever lived there ("Caught signal 11" inside V8; UCX 1.13.1 under
 * MPICH 4.0.2, 1 run in ~20). Without memory events UCX never moves the break; it only loses its
 * registration cache, which shared memory does not use. A value the user set is kept.
 */
export function defaultUcxEnvironment(env: NodeJS.ProcessEnv = process.env): void {
  env.UCX_MEM_EVENTS ??= 'no';
}

/** Loads the addon from the package at `root` (tests point it elsewhere to see the failure report). */
export function loadAddon(root = packageRoot, env: NodeJS.ProcessEnv = process.env): Native {
  defaultUcxEnvironment(); // before any MPI library loads: UCX reads it in its library constructor
  const tried: { path: string; error: string }[] = [];
  const lines: string[] = [];
  const note = (c: AddonCandidate, error: string) => {
    tried.push({ path: c.path, error });
    lines.push(`  - ${describe(c)}: ${error}`);
  };
  const wanted = requestedAbi(env);
  for (const c of addonCandidateList(root, env)) {
    if (!existsSync(c.path)) {
      note(c, 'not found');
      continue;
    }
    const abi = c.abi ?? mpiAbiOf(c.path);
    if (wanted && c.kind === 'source' && abi !== wanted) {
      note(c, `skipped: built against ${abi ? ABI_NAME[abi] : 'an unknown MPI'}, and MPI4NODE_MPI=${wanted}`);
      continue;
    }
    let mpiLibrary: string | undefined;
    if (needsMpiLibrary(c.path)) {
      const lib = loadMpichAbiLibrary(env);
      if (!lib.library) {
        note(c, `no MPICH-ABI library loads (${lib.errors.join('; ')})`);
        continue;
      }
      mpiLibrary = mpichLibraryLoaded = lib.library;
    } else if (mpichLibraryLoaded && abi === 'openmpi') {
      // MPICH's symbols are now global: an Open MPI addon would bind MPI_* to them.
      note(c, `skipped: the MPICH-ABI library ${mpichLibraryLoaded} is already loaded in this process`);
      continue;
    }
    try {
      const addon = require(c.path) as Native;
      claim(addon, c.path);
      loadedFrom = c.path;
      loaded = { path: c.path, kind: c.kind, abi, mpiLibrary };
      return addon;
    } catch (e) {
      if (e instanceof AddonLoadError) throw e;
      note(c, (e as Error).message.split('\n')[0]!);
    }
  }
  throw new AddonLoadError(
    `mpi4node: could not load the native addon for ${process.platform}-${process.arch} ` +
      `(Node ${process.version}, N-API).\nTried:\n${lines.join('\n')}\n${report(tried, env)}`,
    tried,
  );
}

/** What was found, and one fix per case, for the failure message. */
function report(tried: { path: string; error: string }[], env: NodeJS.ProcessEnv): string {
  const found = mpiLibrariesFound(env);
  const out = [
    `MPI libraries the dynamic linker finds: ${found.map((l) => `${l.soname} (${ABI_NAME[l.abi]}): ${l.path ?? 'not found'}`).join('; ')}` +
      (env.LD_LIBRARY_PATH ? '' : ' (LD_LIBRARY_PATH is not set)') + '.',
    'How to fix:',
  ];
  const errors = tried.map((t) => t.error).join('\n');
  const noLibrary = /cannot open shared object file|no MPICH-ABI library loads/.test(errors);
  const anyFound = found.some((l) => l.path);
  if (env.MPI4NODE_ADDON) {
    out.push(`  - MPI4NODE_ADDON=${env.MPI4NODE_ADDON} is the only file tried: unset it to use the package's own builds.`);
  }
  if (env.MPI4NODE_MPI) out.push(`  - MPI4NODE_MPI=${env.MPI4NODE_MPI} limits the choice to that MPI family: unset it to try both.`);
  if (noLibrary || !anyFound) {
    out.push(
      '  - No MPI library found: install one. Debian/Ubuntu: apt-get install openmpi-bin libopenmpi-dev (or mpich ' +
        'libmpich-dev); Fedora/RHEL: dnf install openmpi, then module load mpi/openmpi-x86_64; a cluster: module load openmpi (or mpich, intel-mpi, ...).',
    );
    out.push(
      '  - An MPI installed elsewhere (/opt/..., a module): add its lib/ folder to LD_LIBRARY_PATH, or point ' +
        'MPI4NODE_MPI_LIBRARY at its libmpi.so.12 (MPICH ABI), or build against it: MPICC=/path/to/mpicc npm rebuild mpi4node.',
    );
  }
  if (/undefined symbol/.test(errors)) {
    out.push('  - undefined symbol: the addon was built against another MPI than the one loaded. Rebuild it against yours: MPICC=/path/to/mpicc npm rebuild mpi4node.');
  }
  if (tried.every((t) => t.error === 'not found')) {
    out.push(
      '  - No addon is built: build it from source with an MPI and its headers (Debian/Ubuntu: apt-get install ' +
        'openmpi-bin libopenmpi-dev), a C++ compiler, make and python3: npm rebuild mpi4node --build-from-source ' +
        '(node scripts/setup.mjs in a checkout).',
    );
  }
  out.push('  - Choose explicitly: MPI4NODE_MPI=openmpi|mpich (which prebuild), MPI4NODE_ADDON=/path/to/mpi4node.node (which file).');
  return out.join('\n');
}
