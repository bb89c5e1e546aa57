/** Absolute paths of the native OSU-style reference benchmarks. */
export interface NativeBenchPaths {
  latency: string;
  /** osu_latency.c whose receiver polls a posted MPI_Irecv with MPI_Test. */
  latencyTestPoll: string;
  /** osu_latency.c whose receiver polls MPI_Improbe, then MPI_Mrecv (a receive of unknown size). */
  latencyProbePoll: string;
  bw: string;
  allreduce: string;
  /** osu_allreduce.c built with MPI_Iallreduce + MPI_Wait. */
  iallreduce: string;
  /** osu_bw.c with a window of persistent requests (MPI_Startall). */
  bwPersistent: string;
  /** osu_mbw_mr.c: message rate of several pairs. */
  mbwMr: string;
  /** osu_rma.c: MPI_Put / MPI_Get / MPI_Accumulate + MPI_Win_flush under a shared lock. */
  putLatency: string;
  getLatency: string;
  accLatency: string;
  /** percall.c: MPI's own cost per call on one rank (docs/benchmarks.md, the floors). */
  percall: string;
}

/**
 * Compiles bench/native/osu_{latency,bw,allreduce}.c (and osu_allreduce.c again as osu_iallreduce) with mpicc (-O2 -std=c11) into outDir
 * (default bench/native/bin) when a binary is missing or stale.
 * mpicc: the option, else $MPI4NODE_MPICC, else $MPI_HOME/bin/mpicc, else mpicc on PATH.
 */
export function buildNative(options?: { mpicc?: string; outDir?: string }): Promise<NativeBenchPaths>;
