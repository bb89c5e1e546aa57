export interface Mpi4pyPython {
  /** sys.executable of the interpreter that imported mpi4py */
  python: string;
  version: string;
  mpi4py: string;
  numpy: string | null;
  /** MPI_Get_library_version() as seen by mpi4py */
  mpiLibrary: string;
}

/** First of candidates (default: $MPI4NODE_PYTHON, /usr/bin/python3, python3) that imports mpi4py. */
export function findMpi4pyPython(candidates?: string[]): Promise<Mpi4pyPython | null>;
