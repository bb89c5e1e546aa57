// Helpers shared by the install, prebuild and MPI-flags scripts: finding programs, Node's headers,
// an MPI's compiler wrapper, and one-line messages naming what is missing and how to install it.
// Node builtins only: scripts/install.mjs runs before any dependency is guaranteed to exist.
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/** The executable `name` on PATH (or `name` itself when it is a path), else undefined. */
export function which(name, env = process.env) {
  if (!name) return undefined;
  if (name.includes('/')) return isExecutable(name) ? path.resolve(name) : undefined;
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    const file = path.join(dir || '.', name);
    if (isExecutable(file)) return file;
  }
  return undefined;
}

function isExecutable(file) {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/**
 * Node's own headers when this node ships them (Debian's nodejs, the official tarballs): building
 * against them needs no download, which offline machines cannot do. Undefined otherwise.
 */
export function localNodedir(execPath = process.execPath) {
  const dir = path.resolve(path.dirname(execPath), '..');
  return existsSync(path.join(dir, 'include', 'node', 'node.h')) ? dir : undefined;
}

/**
 * The MPI compiler wrapper a source build uses: $MPICC, else $MPI_HOME/bin/mpicc (npm_config_mpi_home
 * is npm's spelling of MPI_HOME), else `mpicc` on PATH. Throws a one-line Error when the one asked for
 * is not there.
 */
export function findMpicc(env = process.env) {
  if (env.MPICC) {
    const found = which(env.MPICC, env);
    if (!found) throw new Error(`MPICC=${env.MPICC} is not an executable on PATH`);
    return found;
  }
  const home = env.MPI_HOME || env.npm_config_mpi_home;
  if (home) {
    const p = path.join(home, 'bin', 'mpicc');
    if (!existsSync(p)) {
      throw new Error(`MPI_HOME=${home} has no bin/mpicc (Debian/Ubuntu's MPICH has none: use MPICC=mpicc.mpich instead)`);
    }
    return p;
  }
  const found = which('mpicc', env);
  if (!found) throw new Error('no mpicc on PATH');
  return found;
}

/** 'openmpi' | 'mpich' | undefined: the MPI family of a compiler wrapper, by the options it answers to. */
export function wrapperFamily(mpicc) {
  const ok = (args) => {
    try {
      execFileSync(mpicc, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
      return true;
    } catch {
      return false;
    }
  };
  if (ok(['-showme:version'])) return 'openmpi';
  if (ok(['-compile_info'])) return 'mpich';
  return undefined;
}

function osRelease() {
  try {
    return readFileSync('/etc/os-release', 'utf8');
  } catch {
    return '';
  }
}

/** How to install each build piece, per system; the keys are what `missingLine` takes. */
const INSTALL = {
  make: { debian: 'sudo apt-get install make', fedora: 'sudo dnf install make' },
  'a C++ compiler': { debian: 'sudo apt-get install g++', fedora: 'sudo dnf install gcc-c++', cluster: 'module load gcc' },
  'python3 (node-gyp runs it)': { debian: 'sudo apt-get install python3', fedora: 'sudo dnf install python3' },
  'mpicc (an MPI with its headers)': {
    debian: 'sudo apt-get install libopenmpi-dev (or libmpich-dev)',
    fedora: 'sudo dnf install openmpi-devel && module load mpi/openmpi-$(uname -m)',
    cluster: 'module load openmpi (or your site\'s MPI), or MPICC=/path/to/mpicc',
  },
  'mpi.h (the MPI headers)': {
    debian: 'sudo apt-get install libopenmpi-dev (or libmpich-dev)',
    fedora: 'sudo dnf install openmpi-devel (or mpich-devel)',
    cluster: 'module load openmpi (or your site\'s MPI)',
  },
  cmake: { debian: 'sudo apt-get install cmake', fedora: 'sudo dnf install cmake' },
};

/** One line: what is missing and the command that installs it here (all known systems when unsure). */
export function missingLine(piece, detail = '') {
  const how = INSTALL[piece] ?? {};
  const os = osRelease();
  const debian = /^ID(_LIKE)?=.*(debian|ubuntu)/m.test(os);
  const fedora = /^ID(_LIKE)?=.*(fedora|rhel|centos)/m.test(os);
  const ways = [];
  if (how.debian && (debian || !fedora)) ways.push(`Debian/Ubuntu: ${how.debian}`);
  if (how.fedora && (fedora || !debian)) ways.push(`Fedora/RHEL: ${how.fedora}`);
  if (how.cluster) ways.push(`cluster: ${how.cluster}`);
  return `mpi4node: missing ${piece}${detail ? ` (${detail})` : ''}. Install it: ${ways.join(' | ')}`;
}
