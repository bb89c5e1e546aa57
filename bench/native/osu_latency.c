/* osu_latency method: 2 ranks ping-pong; latency = elapsed / (2 * iters), i.e. half a round trip,
 * in microseconds. See osu_common.h for the options and the output format.
 *
 * Built with -DOSU_RECV_POLL, each receive polls instead of blocking in MPI_Recv, as an event loop
 * must: OSU_RECV_POLL=1 posts MPI_Irecv and polls MPI_Test (how mpi4node's irecv waits);
 * OSU_RECV_POLL=2 polls MPI_Improbe, then MPI_Mrecv (how a receive of unknown size, a typed
 * channel's irecv, waits). Their difference is what a receive posted ahead would save a channel
 * (docs/benchmarks.md, the typed-channel floor). */
#include "osu_common.h"

#if OSU_RECV_POLL == 1
static const osu_bench bench = {"osu_latency_testpoll", "2", 1, 0, 4194304, 10000, 100, 1000, 10};
#elif OSU_RECV_POLL == 2
static const osu_bench bench = {"osu_latency_probepoll", "2", 1, 0, 4194304, 10000, 100, 1000, 10};
#else
static const osu_bench bench = {"osu_latency", "2", 1, 0, 4194304, 10000, 100, 1000, 10};
#endif

static void receive(char *r, int size, int peer) {
#if OSU_RECV_POLL == 1
  MPI_Request req;
  int done = 0;
  MPI_Irecv(r, size, MPI_CHAR, peer, 1, MPI_COMM_WORLD, &req);
  while (!done) MPI_Test(&req, &done, MPI_STATUS_IGNORE);
#elif OSU_RECV_POLL == 2
  MPI_Message msg;
  MPI_Status st;
  int found = 0, count = 0;
  while (!found) MPI_Improbe(peer, 1, MPI_COMM_WORLD, &found, &msg, &st);
  MPI_Get_count(&st, MPI_CHAR, &count);
  MPI_Mrecv(r, count, MPI_CHAR, &msg, MPI_STATUS_IGNORE);
  (void)size;
#else
  MPI_Recv(r, size, MPI_CHAR, peer, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
#endif
}

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
        receive(r, size, 1);
      } else {
        receive(r, size, 0);
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
