/* Collective MPI-IO bandwidth, the reference for bench/io/io.ts: every rank writes its contiguous
   share of one file of `mib` MiB with MPI_File_write_at_all (then MPI_File_sync), and reads it back
   with MPI_File_read_at_all, in chunks of at most 256 MiB. Times are the slowest rank's, between
   barriers, open to close. Prints "write_s=<best> read_s=<best> bytes=<n>".
   usage: io_bw <path> <mib> <reps> */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK ((MPI_Offset)256 << 20)

static double phase(const char* path, MPI_Offset share, char* buf, int write) {
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_File f;
  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = MPI_Wtime();
  MPI_File_open(MPI_COMM_WORLD, path, write ? MPI_MODE_WRONLY | MPI_MODE_CREATE : MPI_MODE_RDONLY, MPI_INFO_NULL, &f);
  for (MPI_Offset done = 0; done < share; done += CHUNK) {
    int n = (int)(share - done < CHUNK ? share - done : CHUNK);
    MPI_Offset at = (MPI_Offset)rank * share + done;
    if (write) MPI_File_write_at_all(f, at, buf, n, MPI_BYTE, MPI_STATUS_IGNORE);
    else MPI_File_read_at_all(f, at, buf, n, MPI_BYTE, MPI_STATUS_IGNORE);
  }
  if (write) MPI_File_sync(f);
  MPI_File_close(&f);
  double t = MPI_Wtime() - t0, slowest;
  MPI_Allreduce(&t, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return slowest;
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (argc < 4) {
    if (rank == 0) fprintf(stderr, "usage: io_bw <path> <mib> <reps>\n");
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  const char* path = argv[1];
  MPI_Offset share = ((MPI_Offset)atoi(argv[2]) << 20) / size;
  int reps = atoi(argv[3]);
  char* buf = malloc(share < CHUNK ? share : CHUNK);
  memset(buf, rank + 1, share < CHUNK ? share : CHUNK);
  double bw = 1e30, br = 1e30;
  for (int i = 0; i < reps; i++) {
    double w = phase(path, share, buf, 1), r = phase(path, share, buf, 0);
    if (w < bw) bw = w;
    if (r < br) br = r;
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) MPI_File_delete(path, MPI_INFO_NULL);
  }
  if (rank == 0) printf("write_s=%.6f read_s=%.6f bytes=%lld\n", bw, br, (long long)(share * size));
  free(buf);
  MPI_Finalize();
  return 0;
}
