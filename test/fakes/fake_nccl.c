/* A fake NCCL for tests on machines without a GPU: the same C ABI as libnccl.so.2 (the subset
 * native/gpu/abi.h declares), with collectives implemented over MPI on the fake runtime's host-memory
 * "device" buffers. Built with mpicc by test/fakes/build.ts; it runs inside the process whose addon
 * initialised MPI, and is loaded only when MPI4NODE_NCCL points at it.
 *
 * Semantics kept from NCCL: buffers must be device memory (checked), ops are enqueued on a stream (the
 * work runs at once, in issue order; the stream's events then complete), point-to-point inside a group
 * is posted at once and completed at ncclGroupEnd, a communicator is unusable after ncclCommAbort.
 * Restriction: ncclCommInitRank splits MPI_COMM_WORLD (colour from the unique id), so every world
 * rank must create its communicator at the same time (one over world, or one per disjoint group).
 *
 * Non-blocking communicators (ncclCommInitRankConfig with config->blocking = 0), as NCCL >= 2.14 has
 * them: creation returns ncclInProgress and ncclCommGetAsyncError reports ncclInProgress for a few
 * polls; every later call on such a communicator outside a group (and ncclGroupEnd of a group that
 * used one) also returns ncclInProgress for a few polls, during which its stream is marked busy (the
 * fake runtime then refuses to record an event there: the work would not be on the stream yet) and
 * any other call on the communicator fails with ncclInvalidUsage, as NCCL requires. The config is
 * checked field by field against NCCL_CONFIG_INITIALIZER's defaults. Built a second time with
 * FAKE_NCCL_NO_CONFIG as libfakenccl-noconfig.so: an NCCL before 2.14, without ncclCommInitRankConfig.
 *
 * Knobs, read at every call:
 *   FAKE_NCCL_VERSION=22105  what ncclGetVersion reports: 2.21.5 (20900 is 2.9.0, 2804 is 2.8.4)
 *   FAKE_NCCL_STALL=1        operations never complete (their stream stalls until ncclCommAbort)
 *   FAKE_NCCL_ASYNC_ERROR=N  operations stall and ncclCommGetAsyncError reports N
 *   FAKE_NCCL_INIT_FAIL=N    ncclCommInitRank[Config] fails with N
 *   FAKE_NCCL_INIT_POLLS=N   a non-blocking creation is in progress for N polls (default 3; -1: until
 *                            aborted)
 *   FAKE_NCCL_LAUNCH_POLLS=N a non-blocking call is in progress for N polls (default 2; -1: until
 *                            aborted) */
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../native/gpu/abi.h"

#define EXPORT __attribute__((visibility("default")))

/* From the fake runtime (linked against it; the same object the addon loaded, by soname). */
int fake_cuda_is_device_ptr(const void* p, size_t bytes);
void fake_cuda_stream_stall(cudaStream_t s);
void fake_cuda_stream_unstall(cudaStream_t s);

struct ncclComm {
  MPI_Comm mpi;
  int rank, size;
  int aborted;
  int asyncError;
  cudaStream_t stalled[16];
  int nstalled;
  int nonblocking;
  int initPolls;   /* creation in progress for this many more polls (-1: for ever) */
  int launchPolls; /* a call in progress for this many more polls (-1: for ever) */
  cudaStream_t busy[16]; /* streams marked busy while a call is in progress */
  int nbusy;
};

void fake_cuda_stream_busy(cudaStream_t s, int busy);

static int envInt(const char* name, int dflt) {
  const char* v = getenv(name);
  return v && *v ? atoi(v) : dflt;
}

EXPORT ncclResult_t ncclGetVersion(int* v) {
  *v = envInt("FAKE_NCCL_VERSION", 22105);
  return ncclSuccess;
}

EXPORT const char* ncclGetErrorString(ncclResult_t r) {
  switch (r) {
    case ncclSuccess: return "no error";
    case ncclUnhandledCudaError: return "unhandled cuda error (run with NCCL_DEBUG=INFO for details)";
    case ncclSystemError: return "unhandled system error (run with NCCL_DEBUG=INFO for details)";
    case ncclInternalError: return "internal error - please report this issue to the NCCL developers";
    case ncclInvalidArgument: return "invalid argument (run with NCCL_DEBUG=WARN for details)";
    case ncclInvalidUsage: return "invalid usage (run with NCCL_DEBUG=WARN for details)";
    case ncclRemoteError: return "remote process exited or there was a network error";
    case ncclInProgress: return "NCCL operation in progress";
  }
  return "unknown result code";
}

static int idCounter = 0;

EXPORT ncclResult_t ncclGetUniqueId(ncclUniqueId* id) {
  int init = 0, rank = 0;
  MPI_Initialized(&init);
  if (init) MPI_Comm_rank(MPI_COMM_WORLD, &rank); /* else a program without MPI (test/gpu/nccl_allreduce.c): one rank */
  memset(id, 0, sizeof *id);
  memcpy(id->internal, "FAKENCCL", 8);
  int fields[3] = {rank, __atomic_fetch_add(&idCounter, 1, __ATOMIC_RELAXED), (int)getpid()};
  memcpy(id->internal + 8, fields, sizeof fields);
  return ncclSuccess;
}

static ncclResult_t initRank(ncclComm_t* out, int nranks, ncclUniqueId id, int rank) {
  const int forced = envInt("FAKE_NCCL_INIT_FAIL", 0);
  if (forced) return forced;
  if (memcmp(id.internal, "FAKENCCL", 8) != 0) return ncclInvalidArgument;
  int fields[3];
  memcpy(fields, id.internal + 8, sizeof fields);
  const int color = (fields[0] * 4096 + (fields[1] & 4095)) & 0x7fffffff;
  int init = 0;
  MPI_Initialized(&init);
  if (!init) { /* one rank, no MPI: what a one-rank communicator reads and writes is its own buffer */
    if (nranks != 1 || rank != 0) return ncclInvalidUsage;
    struct ncclComm* comm = calloc(1, sizeof *comm);
    comm->mpi = MPI_COMM_NULL;
    comm->size = 1;
    *out = comm;
    return ncclSuccess;
  }
  MPI_Comm c;
  if (MPI_Comm_split(MPI_COMM_WORLD, color, rank, &c) != MPI_SUCCESS) return ncclSystemError;
  int size = 0, me = 0;
  MPI_Comm_size(c, &size);
  MPI_Comm_rank(c, &me);
  if (size != nranks || me != rank) {
    MPI_Comm_free(&c);
    return ncclInvalidUsage;
  }
  struct ncclComm* comm = calloc(1, sizeof *comm);
  comm->mpi = c;
  comm->rank = rank;
  comm->size = size;
  *out = comm;
  return ncclSuccess;
}

EXPORT ncclResult_t ncclCommInitRank(ncclComm_t* out, int nranks, ncclUniqueId id, int rank) {
  return initRank(out, nranks, id, rank);
}

#ifndef FAKE_NCCL_NO_CONFIG
EXPORT ncclResult_t ncclCommInitRankConfig(ncclComm_t* out, int nranks, ncclUniqueId id, int rank, ncclConfig_t* config) {
  if (!config || config->magic != MPI4NODE_NCCL_CONFIG_MAGIC || config->size < offsetof(ncclConfig_t, blocking) + sizeof(int)) {
    return ncclInvalidArgument; /* "ncclConfig_t argument not initialized via NCCL_CONFIG_INITIALIZER" */
  }
  /* Every field but blocking must be what NCCL_CONFIG_INITIALIZER put there. */
  ncclConfig_t want = mpi4nodeNcclConfigDefaults();
  want.blocking = config->blocking;
  const size_t n = config->size < sizeof want ? config->size : sizeof want;
  if (config->version < 21400 || memcmp((const char*)config + 16, (const char*)&want + 16, n - 16) != 0) return ncclInvalidArgument;
  if (config->blocking != 0 && config->blocking != 1 && config->blocking != MPI4NODE_NCCL_CONFIG_UNDEF_INT) return ncclInvalidArgument;
  const ncclResult_t rc = initRank(out, nranks, id, rank);
  if (rc != ncclSuccess || config->blocking != 0) return rc;
  (*out)->nonblocking = 1;
  (*out)->initPolls = envInt("FAKE_NCCL_INIT_POLLS", 3);
  return ncclInProgress;
}
#endif

/* A call on a non-blocking communicator was accepted: it is "in progress" for a few polls, its stream
 * busy meanwhile. */
static ncclResult_t inProgress(ncclComm_t comm, cudaStream_t stream) {
  comm->launchPolls = envInt("FAKE_NCCL_LAUNCH_POLLS", 2);
  if (comm->launchPolls == 0) return ncclSuccess;
  if (comm->nbusy < 16) comm->busy[comm->nbusy++] = stream;
  fake_cuda_stream_busy(stream, 1);
  return ncclInProgress;
}

static void settled(ncclComm_t comm) {
  for (int i = 0; i < comm->nbusy; ++i) fake_cuda_stream_busy(comm->busy[i], 0);
  comm->nbusy = 0;
  comm->launchPolls = 0;
  comm->initPolls = 0;
}

EXPORT ncclResult_t ncclCommDestroy(ncclComm_t comm) {
  if (!comm) return ncclInvalidArgument;
  if (comm->mpi != MPI_COMM_NULL) MPI_Comm_free(&comm->mpi);
  free(comm);
  return ncclSuccess;
}

/* Local, as NCCL's: the stalled work is killed (the streams move again), the communicator is dead. */
EXPORT ncclResult_t ncclCommAbort(ncclComm_t comm) {
  if (!comm) return ncclInvalidArgument;
  for (int i = 0; i < comm->nstalled; ++i) fake_cuda_stream_unstall(comm->stalled[i]);
  settled(comm);
  comm->aborted = 1;
  return ncclSuccess;
}

EXPORT ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t* err) {
  if (!comm) return ncclInvalidArgument;
  int* polls = comm->initPolls ? &comm->initPolls : comm->launchPolls ? &comm->launchPolls : NULL;
  if (polls && !comm->aborted) {
    if (*polls > 0) --*polls;
    *err = ncclInProgress;
    return ncclSuccess;
  }
  if (comm->nbusy) settled(comm);
  *err = comm->asyncError;
  return ncclSuccess;
}

/* ---- element conversions ---- */

static float halfToFloat(uint16_t h) {
  const int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
  float v = e == 0 ? ldexpf((float)m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexpf((float)(m | 1024), e - 25);
  return s ? -v : v;
}

static uint16_t floatToHalf(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  const uint32_t s = (x >> 16) & 0x8000;
  if (isnan(f)) return (uint16_t)(s | 0x7e00);
  float a = fabsf(f);
  if (a >= 65520.0f) return (uint16_t)(s | 0x7c00);
  if (a < ldexpf(1, -24) / 2) return (uint16_t)s;
  int e;
  frexpf(a, &e); /* a = m * 2^e, m in [0.5, 1) */
  int exp = e - 1 + 15;
  if (exp <= 0) return (uint16_t)(s | (uint32_t)lrintf(ldexpf(a, 24)));
  uint32_t m = (uint32_t)lrintf(ldexpf(a, 10 - (e - 1))); /* 1024..2048 */
  if (m == 2048) {
    m = 1024;
    exp++;
  }
  if (exp >= 31) return (uint16_t)(s | 0x7c00);
  return (uint16_t)(s | ((uint32_t)exp << 10) | (m - 1024));
}

static float bf16ToFloat(uint16_t b) {
  uint32_t x = (uint32_t)b << 16;
  float f;
  memcpy(&f, &x, 4);
  return f;
}

static uint16_t floatToBf16(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  if (isnan(f)) return (uint16_t)((x >> 16) | 0x40);
  x += 0x7fff + ((x >> 16) & 1);
  return (uint16_t)(x >> 16);
}

/* fp8: e4m3 (bias 7, no infinities, 0x7f/0xff NaN) and e5m2 (bias 15, IEEE-like). */
static float fp8ToFloat(uint8_t b, int e5m2) {
  const int s = b >> 7;
  const int ebits = e5m2 ? 5 : 4, mbits = e5m2 ? 2 : 3, bias = e5m2 ? 15 : 7;
  const int e = (b >> mbits) & ((1 << ebits) - 1), m = b & ((1 << mbits) - 1);
  float v;
  if (e5m2 && e == 31) v = m ? NAN : INFINITY;
  else if (!e5m2 && e == 15 && m == 7) v = NAN;
  else if (e == 0) v = ldexpf((float)m, 1 - bias - mbits);
  else v = ldexpf((float)(m | (1 << mbits)), e - bias - mbits);
  return s ? -v : v;
}

static uint8_t floatToFp8(float f, int e5m2) {
  uint8_t best = 0;
  float bestErr = INFINITY;
  for (int b = 0; b < 256; ++b) { /* nearest representable value: slow, exact, fine for a fake */
    float v = fp8ToFloat((uint8_t)b, e5m2);
    if (isnan(v) || isinf(v)) continue;
    float err = fabsf(v - f);
    if (err < bestErr) {
      bestErr = err;
      best = (uint8_t)b;
    }
  }
  return best;
}

static size_t dtypeSize(int t) {
  static const size_t sizes[] = {1, 1, 4, 4, 8, 8, 2, 4, 8, 2, 1, 1};
  return t >= 0 && t < 12 ? sizes[t] : 0;
}

static int isFloat(int t) { return t >= ncclFloat16; }

static double loadF(const void* p, int t) {
  switch (t) {
    case ncclFloat16: return halfToFloat(*(const uint16_t*)p);
    case ncclFloat32: return *(const float*)p;
    case ncclFloat64: return *(const double*)p;
    case ncclBfloat16: return bf16ToFloat(*(const uint16_t*)p);
    case ncclFloat8e4m3: return fp8ToFloat(*(const uint8_t*)p, 0);
    case ncclFloat8e5m2: return fp8ToFloat(*(const uint8_t*)p, 1);
  }
  return 0;
}

static void storeF(void* p, int t, double v) {
  switch (t) {
    case ncclFloat16: *(uint16_t*)p = floatToHalf((float)v); break;
    case ncclFloat32: *(float*)p = (float)v; break;
    case ncclFloat64: *(double*)p = v; break;
    case ncclBfloat16: *(uint16_t*)p = floatToBf16((float)v); break;
    case ncclFloat8e4m3: *(uint8_t*)p = floatToFp8((float)v, 0); break;
    case ncclFloat8e5m2: *(uint8_t*)p = floatToFp8((float)v, 1); break;
  }
}

static int64_t loadI(const void* p, int t) {
  switch (t) {
    case ncclInt8: return *(const int8_t*)p;
    case ncclUint8: return *(const uint8_t*)p;
    case ncclInt32: return *(const int32_t*)p;
    case ncclUint32: return *(const uint32_t*)p;
    case ncclInt64: return *(const int64_t*)p;
  }
  return 0;
}

static void storeI(void* p, int t, int64_t v) {
  switch (t) {
    case ncclInt8: *(int8_t*)p = (int8_t)v; break;
    case ncclUint8: *(uint8_t*)p = (uint8_t)v; break;
    case ncclInt32: *(int32_t*)p = (int32_t)v; break;
    case ncclUint32: *(uint32_t*)p = (uint32_t)v; break;
    case ncclInt64: *(int64_t*)p = v; break;
  }
}

/* out[i] = op over blocks[r][i], r = 0..n-1 (blocks `stride` bytes apart), in rank order. */
static void reduceBlocks(void* out, const char* blocks, size_t stride, int n, size_t count, int t, int op) {
  const size_t es = dtypeSize(t);
  for (size_t i = 0; i < count; ++i) {
    const char* p = blocks + i * es;
    if (isFloat(t)) {
      double acc = loadF(p, t);
      for (int r = 1; r < n; ++r) {
        double v = loadF(p + r * stride, t);
        acc = op == ncclProd ? acc * v : op == ncclMax ? fmax(acc, v) : op == ncclMin ? fmin(acc, v) : acc + v;
      }
      storeF((char*)out + i * es, t, op == ncclAvg ? acc / n : acc);
    } else if (t == ncclUint64) {
      uint64_t acc = *(const uint64_t*)p;
      for (int r = 1; r < n; ++r) {
        uint64_t v = *(const uint64_t*)(p + r * stride);
        acc = op == ncclProd ? acc * v : op == ncclMax ? (v > acc ? v : acc) : op == ncclMin ? (v < acc ? v : acc) : acc + v;
      }
      *(uint64_t*)((char*)out + i * es) = op == ncclAvg ? acc / (uint64_t)n : acc;
    } else {
      int64_t acc = loadI(p, t);
      for (int r = 1; r < n; ++r) {
        int64_t v = loadI(p + r * stride, t);
        acc = op == ncclProd ? acc * v : op == ncclMax ? (v > acc ? v : acc) : op == ncclMin ? (v < acc ? v : acc) : acc + v;
      }
      storeI((char*)out + i * es, t, op == ncclAvg ? acc / n : acc);
    }
  }
}

/* ---- groups and point-to-point ---- */

/* Per thread, as NCCL's own group state is. */
static __thread int groupDepth = 0;
static __thread MPI_Request* groupReqs = NULL;
static __thread int groupCount = 0, groupCap = 0;
/* The non-blocking communicators a group used, with a stream of each. */
static __thread ncclComm_t groupComms[16];
static __thread cudaStream_t groupStreams[16];
static __thread int groupNComms = 0;

EXPORT ncclResult_t ncclGroupStart(void) {
  groupDepth++;
  return ncclSuccess;
}

EXPORT ncclResult_t ncclGroupEnd(void) {
  if (groupDepth == 0) return ncclInvalidUsage;
  if (--groupDepth > 0) return ncclSuccess;
  int rc = MPI_Waitall(groupCount, groupReqs, MPI_STATUSES_IGNORE);
  groupCount = 0;
  ncclResult_t out = rc == MPI_SUCCESS ? ncclSuccess : ncclSystemError;
  for (int i = 0; i < groupNComms && out == ncclSuccess; ++i) {
    if (inProgress(groupComms[i], groupStreams[i]) == ncclInProgress) out = ncclInProgress;
  }
  groupNComms = 0;
  return out;
}

static void inGroup(ncclComm_t comm, cudaStream_t stream) {
  for (int i = 0; i < groupNComms; ++i) {
    if (groupComms[i] == comm) return;
  }
  if (groupNComms < 16) {
    groupComms[groupNComms] = comm;
    groupStreams[groupNComms++] = stream;
  }
}

static void track(MPI_Request r) {
  if (groupCount == groupCap) {
    groupCap = groupCap ? groupCap * 2 : 16;
    groupReqs = realloc(groupReqs, groupCap * sizeof *groupReqs);
  }
  groupReqs[groupCount++] = r;
}

/* Common entry: argument checks and the stall knobs. Returns -1 to go on, else the result. */
static int begin(ncclComm_t comm, cudaStream_t stream, const void* a, size_t aBytes, const void* b, size_t bBytes,
                 int dtype) {
  if (!comm || dtypeSize(dtype) == 0) return ncclInvalidArgument;
  if (comm->aborted) return ncclInvalidUsage;
  if (comm->initPolls || comm->launchPolls) return ncclInvalidUsage; /* still in progress: poll first */
  if (comm->nonblocking && groupDepth > 0) inGroup(comm, stream);
  if ((a && aBytes && !fake_cuda_is_device_ptr(a, aBytes)) || (b && bBytes && !fake_cuda_is_device_ptr(b, bBytes))) {
    return ncclInvalidArgument; /* host memory, or out of the allocation's bounds */
  }
  const int asyncErr = envInt("FAKE_NCCL_ASYNC_ERROR", 0);
  if (envInt("FAKE_NCCL_STALL", 0) || asyncErr) {
    if (asyncErr) comm->asyncError = asyncErr;
    fake_cuda_stream_stall(stream);
    if (comm->nstalled < 16) comm->stalled[comm->nstalled++] = stream;
    return ncclSuccess;
  }
  return -1;
}

static int mpiResult(int rc) { return rc == MPI_SUCCESS ? ncclSuccess : ncclSystemError; }

/* The result of a call whose work is done: on a non-blocking communicator, outside a group, the call
 * is "still being launched" for a few polls. */
static ncclResult_t done(ncclComm_t comm, cudaStream_t stream, int rc) {
  const ncclResult_t r = mpiResult(rc);
  if (r != ncclSuccess || !comm->nonblocking || groupDepth > 0) return r;
  return inProgress(comm, stream);
}

/* Every rank's `count` elements of `send`, gathered in rank order into a fresh buffer. */
static char* gatherAll(ncclComm_t comm, const void* send, size_t bytes, int* rc) {
  char* all = malloc(bytes * comm->size + 1);
  if (comm->mpi == MPI_COMM_NULL) {
    memcpy(all, send, bytes);
    *rc = MPI_SUCCESS;
    return all;
  }
  *rc = MPI_Allgather(send, (int)bytes, MPI_BYTE, all, (int)bytes, MPI_BYTE, comm->mpi);
  return all;
}

EXPORT ncclResult_t ncclAllReduce(const void* send, void* recv, size_t count, int dtype, int op, ncclComm_t comm,
                                  cudaStream_t stream) {
  const size_t bytes = count * dtypeSize(dtype);
  int r = begin(comm, stream, send, bytes, recv, bytes, dtype);
  if (r >= 0) return r;
  int rc;
  char* all = gatherAll(comm, send, bytes, &rc);
  if (rc == MPI_SUCCESS) reduceBlocks(recv, all, bytes, comm->size, count, dtype, op);
  free(all);
  return done(comm, stream, rc);
}

EXPORT ncclResult_t ncclReduce(const void* send, void* recv, size_t count, int dtype, int op, int root,
                               ncclComm_t comm, cudaStream_t stream) {
  const size_t bytes = count * dtypeSize(dtype);
  if (comm && (root < 0 || root >= comm->size)) return ncclInvalidArgument;
  int r = begin(comm, stream, send, bytes, comm && comm->rank == root ? recv : NULL, bytes, dtype);
  if (r >= 0) return r;
  int rc;
  char* all = gatherAll(comm, send, bytes, &rc);
  if (rc == MPI_SUCCESS && comm->rank == root) reduceBlocks(recv, all, bytes, comm->size, count, dtype, op);
  free(all);
  return done(comm, stream, rc);
}

EXPORT ncclResult_t ncclBroadcast(const void* send, void* recv, size_t count, int dtype, int root, ncclComm_t comm,
                                  cudaStream_t stream) {
  const size_t bytes = count * dtypeSize(dtype);
  if (comm && (root < 0 || root >= comm->size)) return ncclInvalidArgument;
  int r = begin(comm, stream, comm && comm->rank == root ? send : NULL, bytes, recv, bytes, dtype);
  if (r >= 0) return r;
  if (comm->rank == root && send != recv) memmove(recv, send, bytes);
  return done(comm, stream, MPI_Bcast(recv, (int)bytes, MPI_BYTE, root, comm->mpi));
}

EXPORT ncclResult_t ncclAllGather(const void* send, void* recv, size_t count, int dtype, ncclComm_t comm,
                                  cudaStream_t stream) {
  const size_t bytes = count * dtypeSize(dtype);
  int r = begin(comm, stream, send, bytes, recv, comm ? bytes * comm->size : 0, dtype);
  if (r >= 0) return r;
  int rc;
  char* all = gatherAll(comm, send, bytes, &rc); /* through a copy: send may lie inside recv */
  if (rc == MPI_SUCCESS) memcpy(recv, all, bytes * comm->size);
  free(all);
  return done(comm, stream, rc);
}

EXPORT ncclResult_t ncclReduceScatter(const void* send, void* recv, size_t count, int dtype, int op,
                                      ncclComm_t comm, cudaStream_t stream) {
  const size_t bytes = count * dtypeSize(dtype);
  int r = begin(comm, stream, send, comm ? bytes * comm->size : 0, recv, bytes, dtype);
  if (r >= 0) return r;
  int rc;
  char* all = gatherAll(comm, send, bytes * comm->size, &rc);
  if (rc == MPI_SUCCESS) {
    reduceBlocks(recv, all + comm->rank * bytes, bytes * comm->size, comm->size, count, dtype, op);
  }
  free(all);
  return done(comm, stream, rc);
}

static ncclResult_t p2p(void* buf, size_t count, int dtype, int peer, ncclComm_t comm, cudaStream_t stream, int isSend) {
  const size_t bytes = count * dtypeSize(dtype);
  if (comm && (peer < 0 || peer >= comm->size)) return ncclInvalidArgument;
  int r = begin(comm, stream, buf, bytes, NULL, 0, dtype);
  if (r >= 0) return r;
  MPI_Request req;
  int rc = isSend ? MPI_Isend(buf, (int)bytes, MPI_BYTE, peer, 0, comm->mpi, &req)
                  : MPI_Irecv(buf, (int)bytes, MPI_BYTE, peer, 0, comm->mpi, &req);
  if (rc != MPI_SUCCESS) return ncclSystemError;
  if (groupDepth > 0) {
    track(req);
    return ncclSuccess;
  }
  return done(comm, stream, MPI_Wait(&req, MPI_STATUS_IGNORE));
}

EXPORT ncclResult_t ncclSend(const void* send, size_t count, int dtype, int peer, ncclComm_t comm, cudaStream_t stream) {
  return p2p((void*)send, count, dtype, peer, comm, stream, 1);
}

EXPORT ncclResult_t ncclRecv(void* recv, size_t count, int dtype, int peer, ncclComm_t comm, cudaStream_t stream) {
  return p2p(recv, count, dtype, peer, comm, stream, 0);
}
