/* osu_latency method: 2 ranks ping-pong; latency = elapsed / (2 * iters), i.e. half a round trip,
 * in microseconds. See osu_common.h for the options and the output format. */
#include "osu_common.h"

static const osu_bench bench = {"osu_latency", "2", 1, 0, 4194304, 10000, 100, 1000, 10};

int main(int argc, char **argv) {
  osu_opts o;
  int rank, nranks;
  int thread = osu_setup(&argc, &argv, &bench, &o, &rank, &nranks);
  osu_need_ranks(&bench, rank, nranks, 2);
  osu_buf buf[2];
  osu_alloc(&buf[0], (size_t)osu_max_size(&o), o.hugepages);
  osu_alloc(&buf[1], (size_t)osu_max_size(&o), o.hugepages);
  const char *pages = osu_pages(buf, 2, &o, &bench);
  char *s = buf[0].p, *r = buf[1].p;

  for (int k = 0; k < o.nsizes; ++k) {
    int size = (int)o.sizes[k];
    long iters, warmup;
    osu_iters(&bench, &o, size, &iters, &warmup);
    memset(s, 'a', size);
    memset(r, 'b', size);
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    for (long i = 0; i < warmup + iters; ++i) {
      if (i == warmup) t0 = MPI_Wtime();
      if (rank == 0) {
        MPI_Send(s, size, MPI_CHAR, 1, 1, MPI_COMM_WORLD);
        MPI_Recv(r, size, MPI_CHAR, 1, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      } else {
        MPI_Recv(r, size, MPI_CHAR, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        MPI_Send(s, size, MPI_CHAR, 0, 1, MPI_COMM_WORLD);
      }
    }
    double us = (MPI_Wtime() - t0) * 1e6 / (2.0 * (double)iters);
    if (rank == 0) osu_emit("latency", size, iters, warmup, us, "us", pages, nranks, thread, "");
  }
  free(buf[0].p);
  free(buf[1].p);
  MPI_Finalize();
  return 0;
}
