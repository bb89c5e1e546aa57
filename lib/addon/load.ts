// Loads the addon: prebuilds/ first, then build/Release (node-gyp-build's order), then cmake-js's
// build-cmake/. When nothing loads, the error lists every path tried with its error and how to fix it.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AddonLoadError } from '../core/errors.js';
import type { Native } from './native.js';

const require = createRequire(import.meta.url);
export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function candidates(root: string): string[] {
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

/** Loads the addon from the package at `root` (tests point it elsewhere to see the failure report). */
export function loadAddon(root = packageRoot): Native {
  const tried: { path: string; error: string }[] = [];
  for (const p of candidates(root)) {
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
