/** The mpicc of the MPI the addon builds against: $MPICC, else $MPI_HOME/bin/mpicc, else `mpicc` on PATH. */
export function findMpicc(env?: NodeJS.ProcessEnv): string;
/** Compile and link flags read from that mpicc. */
export function mpiFlags(env?: NodeJS.ProcessEnv): { mpicc: string; includeDirs: string[]; libs: string[] };
