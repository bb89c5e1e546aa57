#!/usr/bin/env node
// Compile and link flags for the MPI the addon builds against, read from that MPI's compiler wrapper
// (Open MPI: -showme:compile/-showme:link; MPICH and its derivatives: -compile_info/-link_info).
// binding.gyp calls this; CMakeLists.txt uses CMake's FindMPI, which asks the same wrappers. The
// wrapper is $MPICC, else $MPI_HOME/bin/mpicc, else `mpicc` on PATH (scripts/tools.mjs findMpicc).
// The wrapper rather than pkg-config: every MPI ships one (module-loaded cluster MPIs often ship no
// .pc file), and npm's bundled node-gyp needs nothing else, where FindMPI would need cmake.
//   node scripts/mpi-flags.mjs --include-dirs | --libs | --mpicc | --json
// Failures print one line naming what is missing and how to install it, and exit 1.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findMpicc, missingLine } from './tools.mjs';

export { findMpicc };

function run(mpicc, args) {
  return execFileSync(mpicc, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 }).trim();
}

export function mpiFlags(env = process.env) {
  const mpicc = findMpicc(env);
  let compile, link;
  try {
    compile = run(mpicc, ['-showme:compile']);
    link = run(mpicc, ['-showme:link']);
  } catch {
    try {
      // MPICH's wrapper prints the whole command line; drop the compiler name.
      compile = run(mpicc, ['-compile_info']).split(/\s+/).slice(1).join(' ');
      link = run(mpicc, ['-link_info']).split(/\s+/).slice(1).join(' ');
    } catch (e) {
      throw new Error(`${mpicc} answers neither -showme:compile (Open MPI) nor -compile_info (MPICH): ${String(e.message).split('\n')[0]}`);
    }
  }
  const words = (s) => s.split(/\s+/).filter(Boolean);
  const includeDirs = words(compile).filter((w) => w.startsWith('-I')).map((w) => w.slice(2));
  const libs = words(link).filter((w) => w.startsWith('-l') || w.startsWith('-L') || w.startsWith('-Wl,'));
  // An MPI outside the loader's default path must still be found at run time.
  for (const w of words(link)) if (w.startsWith('-L')) libs.push(`-Wl,-rpath,${w.slice(2)}`);
  return { mpicc, includeDirs, libs };
}

/** The mpi.h the compiler will see with these include folders (and the system's), or undefined. */
export function mpiHeader(includeDirs) {
  for (const dir of [...includeDirs, '/usr/local/include', '/usr/include']) {
    if (existsSync(path.join(dir, 'mpi.h'))) return path.join(dir, 'mpi.h');
  }
  return undefined;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  let flags;
  try {
    flags = mpiFlags();
  } catch (e) {
    const explicit = process.env.MPICC || process.env.MPI_HOME || process.env.npm_config_mpi_home;
    console.error(explicit ? `mpi4node: ${e.message}` : missingLine('mpicc (an MPI with its headers)', e.message));
    process.exit(1);
  }
  const arg = process.argv[2];
  if (arg === '--include-dirs') console.log(flags.includeDirs.join(' '));
  else if (arg === '--libs') console.log(flags.libs.join(' '));
  else if (arg === '--mpicc') console.log(flags.mpicc);
  else console.log(JSON.stringify(flags, null, 2));
}
