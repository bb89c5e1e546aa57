/* osu_allreduce method: MPI_Allreduce of float32 with MPI_SUM on MPI_COMM_WORLD (built with
 * -DOSU_NONBLOCKING: MPI_Iallreduce + MPI_Wait, as osu_iallreduce). Each iteration is timed on its
 * own and followed by an MPI_Barrier; a rank's latency is the mean of its timed iterations; rank 0
 * reports the mean over ranks as "value" plus the min and max over ranks, in microseconds. The
 * result is checked after each size. See osu_common.h for the options. */
#include "osu_common.h"

#ifdef OSU_NONBLOCKING
static const osu_bench bench = {"osu_iallreduce", "<ranks>", 4, 4, 1048576, 1000, 100, 100, 10};
#else
static const osu_bench bench = {"osu_allreduce", "<ranks>", 4, 4, 1048576, 1000, 100, 100, 10};
#endif

int main(int argc, char **argv) {
  osu_opts o;
  int rank, nranks;
  int thread = osu_setup(&argc, &argv, &bench, &o, &rank, &nranks);
  osu_buf buf[2];
  size_t max = (size_t)osu_max_size(&o);
  osu_alloc(&buf[0], max, o.hugepages);
  osu_alloc(&buf[1], max, o.hugepages);
  const char *pages = osu_pages(buf, 2, &o, &bench);
  float *s = buf[0].p, *r = buf[1].p;

  for (int k = 0; k < o.nsizes; ++k) {
    int count = (int)(o.sizes[k] / 4);
    long iters, warmup;
    osu_iters(&bench, &o, o.sizes[k], &iters, &warmup);
    for (int i = 0; i < count; ++i) s[i] = 1.0f, r[i] = 0.0f;
    MPI_Barrier(MPI_COMM_WORLD);
    double total = 0;
    for (long i = 0; i < warmup + iters; ++i) {
      double t0 = MPI_Wtime();
#ifdef OSU_NONBLOCKING
      MPI_Request req;
      MPI_Iallreduce(s, r, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &req);
      MPI_Wait(&req, MPI_STATUS_IGNORE);
#else
      MPI_Allreduce(s, r, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
#endif
      double t1 = MPI_Wtime();
      if (i >= warmup) total += t1 - t0;
      MPI_Barrier(MPI_COMM_WORLD);
    }
    if (count > 0 && (r[0] != (float)nranks || r[count - 1] != (float)nranks)) {
      fprintf(stderr, "%s: rank %d: wrong result %g (expected %d)\n", bench.name, rank, r[0], nranks);
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    double lat = total * 1e6 / (double)iters, mn, mx, sum;
    MPI_Reduce(&lat, &mn, 1, MPI_DOUBLE, MPI_MIN, 0, MPI_COMM_WORLD);
    MPI_Reduce(&lat, &mx, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    MPI_Reduce(&lat, &sum, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
    if (rank == 0) {
      char extra[96];
      snprintf(extra, sizeof extra, ",\"min\":%.4f,\"max\":%.4f", mn, mx);
      osu_emit("allreduce", o.sizes[k], iters, warmup, sum / nranks, "us", pages, nranks, thread, extra);
    }
  }
  free(buf[0].p);
  free(buf[1].p);
  MPI_Finalize();
  return 0;
}
