/** The mpicc of the MPI the addon builds against: $MPICC, else $MPI_HOME/bin/mpicc, else `mpicc` on PATH; throws a one-line Error when missing. */
export function findMpicc(env?: NodeJS.ProcessEnv): string;
/** Compile and link flags read from that mpicc. */
export function mpiFlags(env?: NodeJS.ProcessEnv): { mpicc: string; includeDirs: string[]; libs: string[] };
/** The mpi.h the compiler will see with these include folders (and the system's), or undefined. */
export function mpiHeader(includeDirs: string[]): string | undefined;
