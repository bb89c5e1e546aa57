/** Absolute paths of the native OSU-style reference benchmarks. */
export interface NativeBenchPaths {
  latency: string;
  bw: string;
  allreduce: string;
}

/**
 * Compiles bench/native/osu_{latency,bw,allreduce}.c with mpicc (-O2 -std=c11) into outDir
 * (default bench/native/bin) when a binary is missing or stale.
 * mpicc: the option, else $MPI4NODE_MPICC, else $MPI_HOME/bin/mpicc, else mpicc on PATH.
 */
export function buildNative(options?: { mpicc?: string; outDir?: string }): Promise<NativeBenchPaths>;
