/* osu_put_latency / osu_get_latency / osu_acc_latency method (OSU's default synchronisation, passive
 * target with flush): 2 ranks, a window of MPI_Win_allocate memory on each; rank 0 takes a shared
 * lock on rank 1 once per size, then per iteration issues one MPI_Put (-DOSU_RMA_PUT), MPI_Get
 * (-DOSU_RMA_GET) or MPI_Accumulate of MPI_FLOAT with MPI_SUM (-DOSU_RMA_ACC) of `size` bytes at
 * displacement 0 and MPI_Win_flush(1); rank 1 waits in MPI_Barrier. Latency = elapsed / iters, in
 * microseconds (a whole operation, not half a round trip). One difference from OSU: accumulates are
 * of float32 (sizes multiples of 4), not MPI_CHAR, which MPI_SUM is not defined on.
 * See osu_common.h for the options and the output format. */
#include "osu_common.h"

#if defined(OSU_RMA_PUT)
static const osu_bench bench = {"osu_put_latency", "2", 1, 1, 4194304, 10000, 100, 1000, 10};
#define RESULT "put_latency"
#elif defined(OSU_RMA_GET)
static const osu_bench bench = {"osu_get_latency", "2", 1, 1, 4194304, 10000, 100, 1000, 10};
#define RESULT "get_latency"
#elif defined(OSU_RMA_ACC)
static const osu_bench bench = {"osu_acc_latency", "2", 4, 4, 4194304, 10000, 100, 1000, 10};
#define RESULT "acc_latency"
#else
#error "define OSU_RMA_PUT, OSU_RMA_GET or OSU_RMA_ACC"
#endif

int main(int argc, char **argv) {
  osu_opts o;
  int rank, nranks;
  int thread = osu_setup(&argc, &argv, &bench, &o, &rank, &nranks);
  osu_need_ranks(&bench, rank, nranks, 2);
  size_t max = (size_t)osu_max_size(&o);
  if (max < 16) max = 16;
  osu_buf buf;
  osu_alloc(&buf, max, o.hugepages);
  const char *pages = osu_pages(&buf, 1, &o, &bench);
  char *s = buf.p;
  void *base;
  MPI_Win win;
  MPI_Win_allocate((MPI_Aint)max, 1, MPI_INFO_NULL, MPI_COMM_WORLD, &base, &win);
  memset(base, 0, max);

  for (int k = 0; k < o.nsizes; ++k) {
    int size = (int)o.sizes[k];
    long iters, warmup;
    osu_iters(&bench, &o, size, &iters, &warmup);
    memset(s, 0, size);
    MPI_Barrier(MPI_COMM_WORLD);
    double us = 0;
    if (rank == 0) {
      MPI_Win_lock(MPI_LOCK_SHARED, 1, 0, win);
      double t0 = MPI_Wtime();
      for (long i = 0; i < warmup + iters; ++i) {
        if (i == warmup) t0 = MPI_Wtime();
#if defined(OSU_RMA_PUT)
        MPI_Put(s, size, MPI_CHAR, 1, 0, size, MPI_CHAR, win);
#elif defined(OSU_RMA_GET)
        MPI_Get(s, size, MPI_CHAR, 1, 0, size, MPI_CHAR, win);
#else
        MPI_Accumulate(s, size / 4, MPI_FLOAT, 1, 0, size / 4, MPI_FLOAT, MPI_SUM, win);
#endif
        MPI_Win_flush(1, win);
      }
      us = (MPI_Wtime() - t0) * 1e6 / (double)iters;
      MPI_Win_unlock(1, win);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) osu_emit(RESULT, size, iters, warmup, us, "us", pages, nranks, thread, "");
  }
  MPI_Win_free(&win);
  free(buf.p);
  MPI_Finalize();
  return 0;
}
