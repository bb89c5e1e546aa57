/* What MPI itself costs per call on one rank, to itself: the C side of bench/node/percall.ts, which
 * times the same loops through mpi4node. The difference is what the binding adds per call (the floor
 * analysis in docs/benchmarks.md). One rank, no partner: the figures do not depend on how a second
 * process is scheduled on this 2-core VM. Medians of 7 repetitions, in ns.
 *
 *   mpirun -n 1 bench/native/bin/percall
 *   mpirun -n 1 bench/native/bin/percall --instructions   (under callgrind: bench/instructions.ts)
 *
 * --instructions: each loop runs once after its warm-up, between MPI_Wtick() and MPI_Get_version(), the
 * calls on entry to which callgrind dumps its counts (bench/node/percall.ts does the same); prints each
 * loop's operation count instead of a time.
 *
 * Open MPI only: send_recv sends to itself before it receives. MPI lets a standard-mode send wait for
 * its receive; Open MPI buffers 8 bytes, MPICH 4.0.2 (ch4:ucx) waits for good.
 */
#define _POSIX_C_SOURCE 199309L /* clock_gettime under -std=c11 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

static int cmp(const void* a, const void* b) {
  const double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

static char s[8], r[8];
static MPI_Request q[64];
static MPI_Win win;
static MPI_Request pq[64];

static void send_recv(long n) {
  for (long i = 0; i < n; i++) {
    MPI_Send(s, 8, MPI_BYTE, 0, 1, MPI_COMM_WORLD);
    MPI_Recv(r, 8, MPI_BYTE, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  }
}

/* A receive of unknown size, as a typed channel receives (lib/channel/inbox.ts): matched probe, then
 * the receive of what it matched, into a buffer of the message's size. */
static void send_mprobe_mrecv(long n) {
  for (long i = 0; i < n; i++) {
    MPI_Message m;
    MPI_Status st;
    int count;
    MPI_Send(s, 8, MPI_BYTE, 0, 5, MPI_COMM_WORLD);
    MPI_Mprobe(0, 5, MPI_COMM_WORLD, &m, &st);
    MPI_Get_count(&st, MPI_BYTE, &count);
    MPI_Mrecv(r, count, MPI_BYTE, &m, MPI_STATUS_IGNORE);
  }
}

/* The Promise round trip's two halves, completed one at a time as `await` completes them. */
static void isend_irecv_each(long n) {
  for (long i = 0; i < n; i++) {
    MPI_Request q1;
    MPI_Isend(s, 8, MPI_BYTE, 0, 6, MPI_COMM_WORLD, &q1);
    MPI_Wait(&q1, MPI_STATUS_IGNORE);
    MPI_Irecv(r, 8, MPI_BYTE, 0, 6, MPI_COMM_WORLD, &q1);
    MPI_Wait(&q1, MPI_STATUS_IGNORE);
  }
}

/* n windows of 32 receives and 32 sends, interleaved, then one MPI_Waitall. */
static void window(long n) {
  for (long w = 0; w < n; w++) {
    for (int j = 0; j < 32; j++) {
      MPI_Irecv(r, 8, MPI_BYTE, 0, 2, MPI_COMM_WORLD, &q[2 * j]);
      MPI_Isend(s, 8, MPI_BYTE, 0, 2, MPI_COMM_WORLD, &q[2 * j + 1]);
    }
    MPI_Waitall(64, q, MPI_STATUSES_IGNORE);
  }
}

/* n windows of 32 persistent receives and 32 persistent sends: one MPI_Startall, one MPI_Waitall. */
static void persistent(long n) {
  for (long w = 0; w < n; w++) {
    MPI_Startall(64, pq);
    MPI_Waitall(64, pq, MPI_STATUSES_IGNORE);
  }
}

static void put_flush(long n) {
  for (long i = 0; i < n; i++) {
    MPI_Put(s, 8, MPI_BYTE, 0, 0, 8, MPI_BYTE, win);
    MPI_Win_flush(0, win);
  }
}

static int instructions;

static void report(const char* name, void (*f)(long), long n, double per) {
  double t[7];
  f(n / 10);
  if (instructions) {
    MPI_Wtick();
    f(n);
    int major, minor;
    MPI_Get_version(&major, &minor);
    printf("{\"bench\":\"percall\",\"impl\":\"c\",\"what\":\"%s\",\"value\":%.0f,\"unit\":\"ops\"}\n", name, n * per);
    return;
  }
  for (int k = 0; k < 7; k++) {
    const double t0 = now_ns();
    f(n);
    t[k] = (now_ns() - t0) / n / per;
  }
  qsort(t, 7, sizeof t[0], cmp);
  printf("{\"bench\":\"percall\",\"impl\":\"c\",\"what\":\"%s\",\"value\":%.1f,\"unit\":\"ns\"}\n", name, t[3]);
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  instructions = argc > 1 && strcmp(argv[1], "--instructions") == 0;
  char* base;
  MPI_Win_allocate(64, 1, MPI_INFO_NULL, MPI_COMM_WORLD, &base, &win);
  report("send+recv 8 B", send_recv, 100000, 1);
  report("send+mprobe+mrecv 8 B", send_mprobe_mrecv, 100000, 1);
  report("window pair (isend+irecv, waitAll of 64)", window, 2000, 64);
  report("isend+irecv 8 B, each completed (Node: await each; C: MPI_Wait each)", isend_irecv_each, 20000, 1);
  for (int j = 0; j < 32; j++) {
    MPI_Recv_init(r, 8, MPI_BYTE, 0, 4, MPI_COMM_WORLD, &pq[2 * j]);
    MPI_Send_init(s, 8, MPI_BYTE, 0, 4, MPI_COMM_WORLD, &pq[2 * j + 1]);
  }
  report("persistent window pair (startAll + wait of 64)", persistent, 2000, 64);
  for (int j = 0; j < 64; j++) MPI_Request_free(&pq[j]);
  MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, win);
  report("put+flush 8 B", put_flush, 100000, 1);
  MPI_Win_unlock(0, win);
  MPI_Win_free(&win);
  MPI_Finalize();
  return 0;
}
