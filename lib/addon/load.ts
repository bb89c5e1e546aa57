// Loads the addon: prebuilds/ first, then build/Release (node-gyp-build's order), then cmake-js's
// build-cmake/. When nothing loads, the error lists every path tried with its error and how to fix it.
import { createRequire } from 'node:module';
import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AddonLoadError } from '../core/errors.js';
import type { Native } from './native.js';

const require = createRequire(import.meta.url);
export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The addon files tried, in order. */
export function addonCandidates(root = packageRoot): string[] {
  // An explicit choice is never silently replaced by another build.
  if (process.env.MPI4NODE_ADDON) return [path.resolve(process.env.MPI4NODE_ADDON)];
  const out: string[] = [];
  try {
    const gypBuild = require('node-gyp-build') as { resolve(dir: string): string };
    out.push(gypBuild.resolve(root));
  } catch {
    out.push(path.join(root, 'build', 'Release', 'mpi4node.node'));
  }
  out.push(path.join(root, 'build-cmake', 'Release', 'mpi4node.node'));
  return [...new Set(out)];
}

function advice(errors: string): string {
  if (/libmpi[^ ]*\.so/.test(errors) || /cannot open shared object/.test(errors)) {
    return 'The MPI library the addon was built against is missing. Install it (Debian/Ubuntu: ' +
      'apt-get install openmpi-bin libopenmpi-dev) or rebuild against the MPI you have: ' +
      'MPI_HOME=/path/to/mpi npm rebuild mpi4node.';
  }
  if (/undefined symbol/.test(errors)) {
    return 'The addon was built against a different MPI than the one now loaded. Rebuild it: ' +
      'npm rebuild mpi4node (set MPI_HOME to choose the MPI).';
  }
  return 'Build it from source: install an MPI with its headers (Debian/Ubuntu: apt-get install ' +
    'openmpi-bin libopenmpi-dev; or mpich libmpich-dev), a C++ compiler, make and python3, then run ' +
    'npm rebuild mpi4node (or node scripts/setup.mjs in a checkout).';
}

/** The file the addon was loaded from (for `mpi4node info` and tests). */
export let loadedFrom = '';

export type MpiAbi = 'openmpi' | 'mpich';

/**
 * The MPI ABI an addon file was linked against, read from the library names it needs (no loading):
 * libmpi.so.40 is Open MPI's; libmpich.so.12 / libmpi.so.12 the MPICH ABI's (MPICH, Intel MPI, MVAPICH,
 * Cray MPICH). Undefined when the file is missing or names neither.
 */
export function mpiAbiOf(file: string): MpiAbi | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    // DT_NEEDED names sit in .dynstr near the start of the file; 2 MiB covers any build of ours.
    const head = Buffer.alloc(2 << 20);
    const text = head.subarray(0, readSync(fd, head, 0, head.length, 0)).toString('latin1');
    if (text.includes('libmpi.so.40')) return 'openmpi';
    if (/\0lib(mpich|mpi)\.so\.12\0/.test(text)) return 'mpich';
    return undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The ABI of the addon that loadAddon() would load first (for choosing the matching mpirun). */
export function addonAbi(root = packageRoot): MpiAbi | undefined {
  for (const p of addonCandidates(root)) if (existsSync(p)) return mpiAbiOf(p);
  return undefined;
}

/** Loads the addon from the package at `root` (tests point it elsewhere to see the failure report). */
export function loadAddon(root = packageRoot): Native {
  const tried: { path: string; error: string }[] = [];
  for (const p of addonCandidates(root)) {
    if (!existsSync(p)) {
      tried.push({ path: p, error: 'not found' });
      continue;
    }
    try {
      const addon = require(p) as Native;
      loadedFrom = p;
      return addon;
    } catch (e) {
      tried.push({ path: p, error: (e as Error).message.split('\n')[0] });
    }
  }
  const list = tried.map((t) => `  - ${t.path}: ${t.error}`).join('\n');
  throw new AddonLoadError(
    `mpi4node: could not load the native addon for ${process.platform}-${process.arch} ` +
      `(Node ${process.version}, N-API).\nTried:\n${list}\n${advice(list)}`,
    tried,
  );
}
