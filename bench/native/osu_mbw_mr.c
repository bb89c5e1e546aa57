/* osu_mbw_mr method (OSU's multiple bandwidth / message rate): the first half of the ranks each send to
 * a partner in the second half (rank r to r + n/2). Per iteration every sender posts a window of 64
 * MPI_Isend, every receiver 64 MPI_Irecv, both MPI_Waitall, then each receiver sends a 4-byte ack.
 * Message rate = pairs * window * iters / elapsed (messages per second, all pairs together), measured
 * between barriers. See osu_common.h for the options and the output format. */
#include "osu_common.h"

#define WINDOW 64

static const osu_bench bench = {"osu_mbw_mr", "2|4|...", 1, 1, 4194304, 100, 10, 20, 2};

int main(int argc, char **argv) {
  osu_opts o;
  int rank, nranks;
  int thread = osu_setup(&argc, &argv, &bench, &o, &rank, &nranks);
  if (nranks < 2 || nranks % 2 != 0) {
    if (rank == 0) fprintf(stderr, "%s: needs an even number of ranks, got %d\n", bench.name, nranks);
    MPI_Finalize();
    return 2;
  }
  const int pairs = nranks / 2, sender = rank < pairs, peer = sender ? rank + pairs : rank - pairs;
  osu_buf buf[2];
  size_t max = (size_t)osu_max_size(&o);
  osu_alloc(&buf[0], max < 4 ? 4 : max, o.hugepages);
  osu_alloc(&buf[1], max < 4 ? 4 : max, o.hugepages);
  const char *pages = osu_pages(buf, 2, &o, &bench);
  char *s = buf[0].p, *r = buf[1].p;
  MPI_Request req[WINDOW];
  char extra[64];
  snprintf(extra, sizeof extra, ",\"window\":%d,\"pairs\":%d", WINDOW, pairs);

  for (int k = 0; k < o.nsizes; ++k) {
    int size = (int)o.sizes[k];
    long iters, warmup;
    osu_iters(&bench, &o, size, &iters, &warmup);
    memset(s, 'a', size);
    memset(r, 'b', size);
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    for (long i = 0; i < warmup + iters; ++i) {
      if (i == warmup) {
        MPI_Barrier(MPI_COMM_WORLD);
        t0 = MPI_Wtime();
      }
      if (sender) {
        for (int j = 0; j < WINDOW; ++j) MPI_Isend(s, size, MPI_CHAR, peer, 100, MPI_COMM_WORLD, &req[j]);
        MPI_Waitall(WINDOW, req, MPI_STATUSES_IGNORE);
        MPI_Recv(r, 4, MPI_CHAR, peer, 101, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      } else {
        for (int j = 0; j < WINDOW; ++j) MPI_Irecv(r, size, MPI_CHAR, peer, 100, MPI_COMM_WORLD, &req[j]);
        MPI_Waitall(WINDOW, req, MPI_STATUSES_IGNORE);
        MPI_Send(s, 4, MPI_CHAR, peer, 101, MPI_COMM_WORLD);
      }
    }
    const double elapsed = MPI_Wtime() - t0;
    MPI_Barrier(MPI_COMM_WORLD);
    double slowest = 0;
    MPI_Reduce(&elapsed, &slowest, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    if (rank == 0) {
      osu_emit("mbw_mr", size, iters, warmup, (double)pairs * WINDOW * (double)iters / slowest, "msg/s", pages, nranks,
               thread, extra);
    }
  }
  free(buf[0].p);
  free(buf[1].p);
  MPI_Finalize();
  return 0;
}
