/* osu_bw method: per iteration rank 0 posts a window of 64 MPI_Isend, rank 1 64 MPI_Irecv (into
 * the same buffer, as OSU does), both MPI_Waitall, then rank 1 sends a 4-byte ack.
 * -DOSU_PERSISTENT: the window is 64 persistent requests (MPI_Send_init / MPI_Recv_init, made once per
 * size), started with MPI_Startall and completed with MPI_Waitall: the reference for persistent windows.
 * Bandwidth = size * window * iters / elapsed, in MB/s (1 MB = 1e6 bytes).
 * See osu_common.h for the options and the output format. */
#include "osu_common.h"

#define WINDOW 64

static const osu_bench bench = {"osu_bw", "2", 1, 1, 4194304, 100, 10, 20, 2};

int main(int argc, char **argv) {
  osu_opts o;
  int rank, nranks;
  int thread = osu_setup(&argc, &argv, &bench, &o, &rank, &nranks);
  osu_need_ranks(&bench, rank, nranks, 2);
  osu_buf buf[2];
  size_t max = (size_t)osu_max_size(&o);
  osu_alloc(&buf[0], max < 4 ? 4 : max, o.hugepages);
  osu_alloc(&buf[1], max < 4 ? 4 : max, o.hugepages);
  const char *pages = osu_pages(buf, 2, &o, &bench);
  char *s = buf[0].p, *r = buf[1].p;
  MPI_Request req[WINDOW];
  char extra[32];
  snprintf(extra, sizeof extra, ",\"window\":%d", WINDOW);

  for (int k = 0; k < o.nsizes; ++k) {
    int size = (int)o.sizes[k];
    long iters, warmup;
    osu_iters(&bench, &o, size, &iters, &warmup);
    memset(s, 'a', size);
    memset(r, 'b', size);
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
#ifdef OSU_PERSISTENT
    for (int j = 0; j < WINDOW; ++j) {
      if (rank == 0) MPI_Send_init(s, size, MPI_CHAR, 1, 100, MPI_COMM_WORLD, &req[j]);
      else MPI_Recv_init(r, size, MPI_CHAR, 0, 100, MPI_COMM_WORLD, &req[j]);
    }
#endif
    for (long i = 0; i < warmup + iters; ++i) {
      if (i == warmup) t0 = MPI_Wtime();
      if (rank == 0) {
#ifdef OSU_PERSISTENT
        MPI_Startall(WINDOW, req);
#else
        for (int j = 0; j < WINDOW; ++j) MPI_Isend(s, size, MPI_CHAR, 1, 100, MPI_COMM_WORLD, &req[j]);
#endif
        MPI_Waitall(WINDOW, req, MPI_STATUSES_IGNORE);
        MPI_Recv(r, 4, MPI_CHAR, 1, 101, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      } else {
#ifdef OSU_PERSISTENT
        MPI_Startall(WINDOW, req);
#else
        for (int j = 0; j < WINDOW; ++j) MPI_Irecv(r, size, MPI_CHAR, 0, 100, MPI_COMM_WORLD, &req[j]);
#endif
        MPI_Waitall(WINDOW, req, MPI_STATUSES_IGNORE);
        MPI_Send(s, 4, MPI_CHAR, 0, 101, MPI_COMM_WORLD);
      }
    }
    double mbs = (double)size / 1e6 * WINDOW * (double)iters / (MPI_Wtime() - t0);
#ifdef OSU_PERSISTENT
    for (int j = 0; j < WINDOW; ++j) MPI_Request_free(&req[j]);
#endif
    if (rank == 0) osu_emit("bw", size, iters, warmup, mbs, "MB/s", pages, nranks, thread, extra);
  }
  free(buf[0].p);
  free(buf[1].p);
  MPI_Finalize();
  return 0;
}
