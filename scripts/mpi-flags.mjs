#!/usr/bin/env node
// Compile and link flags for the MPI the addon builds against, read from that MPI's compiler wrapper
// (Open MPI: -showme:compile/-showme:link; MPICH: -compile_info/-link_info). binding.gyp calls this;
// CMakeLists.txt uses CMake's FindMPI with the same MPI_HOME override.
//   node scripts/mpi-flags.mjs --include-dirs | --libs | --mpicc | --json
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

export function findMpicc(env = process.env) {
  const home = env.MPI_HOME || env.npm_config_mpi_home;
  if (env.MPICC) return env.MPICC;
  if (home) {
    const p = path.join(home, 'bin', 'mpicc');
    if (!existsSync(p)) throw new Error(`MPI_HOME=${home} has no bin/mpicc`);
    return p;
  }
  return 'mpicc';
}

function run(mpicc, args) {
  return execFileSync(mpicc, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

export function mpiFlags(env = process.env) {
  const mpicc = findMpicc(env);
  let compile, link;
  try {
    compile = run(mpicc, ['-showme:compile']);
    link = run(mpicc, ['-showme:link']);
  } catch {
    // MPICH's wrapper prints the whole command line; drop the compiler name.
    compile = run(mpicc, ['-compile_info']).split(/\s+/).slice(1).join(' ');
    link = run(mpicc, ['-link_info']).split(/\s+/).slice(1).join(' ');
  }
  const words = (s) => s.split(/\s+/).filter(Boolean);
  const includeDirs = words(compile).filter((w) => w.startsWith('-I')).map((w) => w.slice(2));
  const libs = words(link).filter((w) => w.startsWith('-l') || w.startsWith('-L') || w.startsWith('-Wl,'));
  // An MPI outside the loader's default path must still be found at run time.
  for (const w of words(link)) if (w.startsWith('-L')) libs.push(`-Wl,-rpath,${w.slice(2)}`);
  return { mpicc, includeDirs, libs };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const flags = mpiFlags();
  const arg = process.argv[2];
  if (arg === '--include-dirs') console.log(flags.includeDirs.join(' '));
  else if (arg === '--libs') console.log(flags.libs.join(' '));
  else if (arg === '--mpicc') console.log(flags.mpicc);
  else console.log(JSON.stringify(flags, null, 2));
}
