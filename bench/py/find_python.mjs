// Finds a Python interpreter that can import mpi4py, for running bench/py/osu_mpi4py.py.
//
//   import { findMpi4pyPython } from './py/find_python.mjs';
//   const py = await findMpi4pyPython();   // null if none
//   // { python: '/usr/bin/python3', version: '3.11.2', mpi4py: '3.1.4', numpy: null,
//   //   mpiLibrary: 'Open MPI v4.1.4, ...' }
//
// Candidates: the argument, else $MPI4NODE_PYTHON, /usr/bin/python3, python3 (PATH; may be a pyenv
// or venv python without mpi4py). mpiLibrary (MPI_Get_library_version, no MPI_Init) lets the caller
// check that mpi4py uses the same MPI as the addon. `node bench/py/find_python.mjs` prints the result.
import { execFile } from 'node:child_process';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const PROBE = `
import json, sys, mpi4py
mpi4py.rc.initialize = False
mpi4py.rc.finalize = False
from mpi4py import MPI
try:
    import numpy
    np = numpy.__version__
except ImportError:
    np = None
print(json.dumps({"python": sys.executable, "version": sys.version.split()[0],
                  "mpi4py": mpi4py.__version__, "numpy": np,
                  "mpiLibrary": MPI.Get_library_version().replace("\\0", "").strip()}))
`;

function probe(python) {
  return new Promise((resolve) => {
    execFile(python, ['-c', PROBE], { timeout: 30_000 }, (err, stdout) => {
      if (err) return resolve(null);
      try {
        resolve(JSON.parse(stdout.trim().split('\n').pop()));
      } catch {
        resolve(null);
      }
    });
  });
}

/**
 * @param {string[]} [candidates]
 * @returns {Promise<{ python: string, version: string, mpi4py: string, numpy: string | null,
 *   mpiLibrary: string } | null>}
 */
export async function findMpi4pyPython(candidates) {
  const list = candidates ?? [process.env.MPI4NODE_PYTHON, '/usr/bin/python3', 'python3'];
  for (const python of list) {
    if (!python) continue;
    const found = await probe(python);
    if (found) return found;
  }
  return null;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const found = await findMpi4pyPython(process.argv.length > 2 ? process.argv.slice(2) : undefined);
  if (!found) {
    console.error('no Python with mpi4py found (set MPI4NODE_PYTHON)');
    process.exit(1);
  }
  console.log(JSON.stringify(found, null, 2));
}
