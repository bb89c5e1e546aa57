/* A fake CUDA runtime for tests on machines without a GPU: the same C ABI as libcudart (the subset
 * native/gpu/abi.h declares), with "device" memory in host memory. Built by test/fakes/build.ts and
 * loaded only when MPI4NODE_CUDART points at it.
 *
 * - Device and pinned allocations are registered, so copies check their direction and
 *   cudaPointerGetAttributes tells device from host (and fills the full 88 bytes of CUDA 13's struct,
 *   so a caller passing the old 24-byte struct would be caught by its stack canary).
 * - Work runs synchronously at enqueue time; events complete at once, or after
 *   FAKE_CUDA_EVENT_DELAY_MS. A stream can be stalled (fake_cuda_stream_stall, used by the fake NCCL):
 *   events recorded on it after the stall never complete until fake_cuda_stream_unstall.
 * - FAKE_CUDA_DEVICES=N devices (default 1); FAKE_CUDA_DRIVER=none|old makes the driver missing or
 *   too old (12.4), as on a machine with the toolkit but no usable driver; FAKE_CUDA_INIT_ERROR=N makes
 *   cudaGetDeviceCount fail with N. Built a second time with FAKE_CUDA_RUNTIME_VERSION=12000 as
 *   libfakecudart12.so: a CUDA 12 runtime, which the old driver can run.
 * - Thread-safe where the real runtime is: worker threads allocate and free while the main thread
 *   copies, so the registry of allocations and the count of stalled streams are under one lock.
 * - Checks the real runtime does not make, to catch what would go wrong on a GPU: an event recorded on
 *   a stream of another device, or on a stream an NCCL launch is still being enqueued into
 *   (fake_cuda_stream_busy, set by the fake NCCL while a non-blocking call is in progress), and a free
 *   while a stream is stalled (the real cudaFree would wait for that work: a deadlock when the work
 *   waits for a peer that waits for this rank) fail with cudaErrorIllegalState. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../native/gpu/abi.h"

#define EXPORT __attribute__((visibility("default")))

enum { cudaErrorInvalidResourceHandle = 400, cudaErrorIllegalState = 401, cudaErrorLaunchFailure = 719 };

#ifndef FAKE_CUDA_RUNTIME_VERSION
#define FAKE_CUDA_RUNTIME_VERSION 13000
#endif

static __thread int currentDevice;
static __thread cudaError_t lastError = cudaSuccess;

static cudaError_t fail(cudaError_t e) {
  lastError = e;
  return e;
}

static int envInt(const char* name, int dflt) {
  const char* v = getenv(name);
  return v && *v ? atoi(v) : dflt;
}

static double nowMs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- allocations ---- */

typedef struct Alloc {
  char* base;
  size_t bytes;
  int type; /* cudaMemoryTypeDevice or cudaMemoryTypeHost (pinned) */
  int device;
  struct Alloc* next;
} Alloc;
static Alloc* allocs = NULL;
static pthread_mutex_t registry = PTHREAD_MUTEX_INITIALIZER; /* allocs and stalledStreams */

/* Called with the registry locked. */
static Alloc* findAlloc(const void* p) {
  for (Alloc* a = allocs; a; a = a->next) {
    if ((const char*)p >= a->base && (const char*)p < a->base + (a->bytes ? a->bytes : 1)) return a;
  }
  return NULL;
}

static cudaError_t allocate(void** ptr, size_t bytes, int type) {
  if (!ptr) return fail(cudaErrorInvalidValue);
  Alloc* a = calloc(1, sizeof *a);
  a->base = malloc(bytes ? bytes : 1);
  if (!a->base) {
    free(a);
    return fail(cudaErrorMemoryAllocation);
  }
  /* Fresh device memory holds garbage on a real GPU: make reads of it visible in tests. */
  memset(a->base, 0xA5, bytes ? bytes : 1);
  a->bytes = bytes;
  a->type = type;
  a->device = currentDevice;
  pthread_mutex_lock(&registry);
  a->next = allocs;
  allocs = a;
  pthread_mutex_unlock(&registry);
  *ptr = a->base;
  return cudaSuccess;
}

static int stalledStreams = 0;

static cudaError_t release(void* ptr, int type) {
  if (!ptr) return cudaSuccess;
  Alloc* found = NULL;
  pthread_mutex_lock(&registry);
  const int stalled = stalledStreams > 0;
  for (Alloc** p = &allocs; !stalled && *p; p = &(*p)->next) {
    if ((*p)->base == ptr && (*p)->type == type) {
      found = *p;
      *p = found->next;
      break;
    }
  }
  pthread_mutex_unlock(&registry);
  if (stalled) return fail(cudaErrorIllegalState); /* would wait for the stalled work */
  if (!found) return fail(cudaErrorInvalidValue);
  free(found->base);
  free(found);
  return cudaSuccess;
}

/* For the fake NCCL: whether [p, p+bytes) lies inside one device allocation. */
EXPORT int fake_cuda_is_device_ptr(const void* p, size_t bytes) {
  pthread_mutex_lock(&registry);
  Alloc* a = findAlloc(p);
  const int inside = a && a->type == cudaMemoryTypeDevice && (const char*)p + bytes <= a->base + (a->bytes ? a->bytes : 1);
  pthread_mutex_unlock(&registry);
  return inside;
}

/* ---- streams and events ---- */

struct CUstream_st {
  unsigned long seq;     /* work enqueued so far */
  unsigned long stallAt; /* 0, or the first sequence number that will not complete */
  int device;
  int busy; /* an NCCL launch is being enqueued into it */
};

struct CUevent_st {
  cudaStream_t stream;
  unsigned long seq;
  double readyAt;
  int recorded;
  int device;
};

static struct CUstream_st legacy = {0, 0, 0, 0};
static cudaStream_t S(cudaStream_t s) {
  if (s) return s;
  legacy.device = currentDevice; /* the legacy stream is per device */
  return &legacy;
}

EXPORT void fake_cuda_stream_stall(cudaStream_t s) {
  s = S(s);
  pthread_mutex_lock(&registry);
  if (!s->stallAt) {
    s->stallAt = ++s->seq;
    stalledStreams++;
  }
  pthread_mutex_unlock(&registry);
}

EXPORT void fake_cuda_stream_unstall(cudaStream_t s) {
  s = S(s);
  pthread_mutex_lock(&registry);
  if (s->stallAt) stalledStreams--;
  s->stallAt = 0;
  pthread_mutex_unlock(&registry);
}

EXPORT void fake_cuda_stream_busy(cudaStream_t s, int busy) { S(s)->busy = busy; }

static int driverState(void) {
  const char* d = getenv("FAKE_CUDA_DRIVER");
  if (d && strcmp(d, "none") == 0) return 0;
  if (d && strcmp(d, "old") == 0) return 1;
  return 2;
}

EXPORT cudaError_t cudaRuntimeGetVersion(int* v) {
  *v = FAKE_CUDA_RUNTIME_VERSION;
  return cudaSuccess;
}

EXPORT cudaError_t cudaDriverGetVersion(int* v) {
  const int d = driverState();
  *v = d == 0 ? 0 : d == 1 ? 12040 : 13000;
  return cudaSuccess;
}

EXPORT cudaError_t cudaGetDeviceCount(int* count) {
  int driver = 0;
  cudaDriverGetVersion(&driver);
  if (driver < FAKE_CUDA_RUNTIME_VERSION) return fail(cudaErrorInsufficientDriver);
  const int forced = envInt("FAKE_CUDA_INIT_ERROR", 0);
  if (forced) return fail(forced);
  const int n = envInt("FAKE_CUDA_DEVICES", 1);
  if (n == 0) return fail(cudaErrorNoDevice);
  *count = n;
  return cudaSuccess;
}

EXPORT cudaError_t cudaSetDevice(int device) {
  if (device < 0 || device >= envInt("FAKE_CUDA_DEVICES", 1)) return fail(cudaErrorInvalidDevice);
  currentDevice = device;
  return cudaSuccess;
}

EXPORT cudaError_t cudaGetDevice(int* device) {
  *device = currentDevice;
  return cudaSuccess;
}

EXPORT cudaError_t cudaMalloc(void** ptr, size_t bytes) { return allocate(ptr, bytes, cudaMemoryTypeDevice); }
EXPORT cudaError_t cudaFree(void* ptr) { return release(ptr, cudaMemoryTypeDevice); }
EXPORT cudaError_t cudaMallocHost(void** ptr, size_t bytes) { return allocate(ptr, bytes, cudaMemoryTypeHost); }
EXPORT cudaError_t cudaFreeHost(void* ptr) { return release(ptr, cudaMemoryTypeHost); }

static int isDevice(const void* p, size_t n) { return fake_cuda_is_device_ptr(p, n); }

static cudaError_t copy(void* dst, const void* src, size_t n, int kind) {
  if (n == 0) return cudaSuccess;
  int ok = 1;
  switch (kind) {
    case cudaMemcpyHostToDevice: ok = isDevice(dst, n) && !isDevice(src, n); break;
    case cudaMemcpyDeviceToHost: ok = isDevice(src, n) && !isDevice(dst, n); break;
    case cudaMemcpyDeviceToDevice: ok = isDevice(src, n) && isDevice(dst, n); break;
    case cudaMemcpyHostToHost: ok = !isDevice(src, n) && !isDevice(dst, n); break;
    case cudaMemcpyDefault: ok = 1; break;
    default: ok = 0;
  }
  if (!ok) return fail(cudaErrorInvalidValue);
  memmove(dst, src, n);
  return cudaSuccess;
}

EXPORT cudaError_t cudaMemcpy(void* dst, const void* src, size_t n, int kind) { return copy(dst, src, n, kind); }

EXPORT cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t n, int kind, cudaStream_t s) {
  S(s)->seq++;
  return copy(dst, src, n, kind);
}

EXPORT cudaError_t cudaMemsetAsync(void* p, int value, size_t n, cudaStream_t s) {
  if (n && !isDevice(p, n)) return fail(cudaErrorInvalidValue);
  S(s)->seq++;
  memset(p, value, n);
  return cudaSuccess;
}

EXPORT cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned int flags) {
  (void)flags;
  *s = calloc(1, sizeof **s);
  (*s)->device = currentDevice;
  return cudaSuccess;
}

EXPORT cudaError_t cudaStreamDestroy(cudaStream_t s) {
  if (!s) return fail(cudaErrorInvalidResourceHandle);
  pthread_mutex_lock(&registry);
  if (s->stallAt) stalledStreams--;
  pthread_mutex_unlock(&registry);
  free(s);
  return cudaSuccess;
}

EXPORT cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  (void)s; /* work ran at enqueue time */
  return cudaSuccess;
}

EXPORT cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned int flags) {
  (void)s;
  (void)flags;
  return e ? cudaSuccess : fail(cudaErrorInvalidResourceHandle);
}

EXPORT cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned int flags) {
  (void)flags;
  *e = calloc(1, sizeof **e);
  (*e)->device = currentDevice;
  return cudaSuccess;
}

EXPORT cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
  if (!e || e->device != S(s)->device) return fail(cudaErrorInvalidResourceHandle);
  if (S(s)->busy) return fail(cudaErrorIllegalState); /* the NCCL work is not on the stream yet */
  e->stream = S(s);
  e->seq = ++e->stream->seq;
  e->readyAt = nowMs() + envInt("FAKE_CUDA_EVENT_DELAY_MS", 0);
  e->recorded = 1;
  return cudaSuccess;
}

EXPORT cudaError_t cudaEventQuery(cudaEvent_t e) {
  if (!e) return fail(cudaErrorInvalidResourceHandle);
  if (!e->recorded) return cudaSuccess;
  if (e->stream->stallAt && e->seq >= e->stream->stallAt) return cudaErrorNotReady;
  return nowMs() >= e->readyAt ? cudaSuccess : cudaErrorNotReady;
}

EXPORT cudaError_t cudaEventSynchronize(cudaEvent_t e) {
  cudaError_t rc;
  while ((rc = cudaEventQuery(e)) == cudaErrorNotReady) {
    struct timespec ts = {0, 100000};
    nanosleep(&ts, NULL);
  }
  return rc;
}

EXPORT cudaError_t cudaEventDestroy(cudaEvent_t e) {
  free(e);
  return cudaSuccess;
}

EXPORT cudaError_t cudaGetLastError(void) {
  cudaError_t e = lastError;
  lastError = cudaSuccess;
  return e;
}

EXPORT const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInsufficientDriver: return "cudaErrorInsufficientDriver";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorIllegalState: return "cudaErrorIllegalState";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorStubLibrary: return "cudaErrorStubLibrary";
    case cudaErrorSystemDriverMismatch: return "cudaErrorSystemDriverMismatch";
    case cudaErrorCompatNotSupportedOnDevice: return "cudaErrorCompatNotSupportedOnDevice";
  }
  return "cudaErrorUnknown";
}

EXPORT const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInsufficientDriver: return "CUDA driver version is insufficient for CUDA runtime version";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorIllegalState: return "the operation cannot be performed in the present state";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorStubLibrary: return "CUDA driver is a stub library";
    case cudaErrorSystemDriverMismatch: return "system has unsupported display driver / cuda driver combination";
    case cudaErrorCompatNotSupportedOnDevice: return "forward compatibility was attempted on non supported HW";
  }
  return "unknown error";
}

/* CUDA 13's cudaPointerAttributes: 88 bytes. Every byte is written, as the real runtime does. */
EXPORT cudaError_t cudaPointerGetAttributes(void* attributes, const void* ptr) {
  unsigned char out[88];
  memset(out, 0, sizeof out);
  mpi4nodeCudaPointerAttributesHead head = {cudaMemoryTypeUnregistered, -2, NULL, (void*)ptr};
  pthread_mutex_lock(&registry);
  Alloc* a = findAlloc(ptr);
  if (a) {
    head.type = a->type;
    head.device = a->device;
    head.devicePointer = a->type == cudaMemoryTypeDevice ? (void*)ptr : NULL;
    head.hostPointer = a->type == cudaMemoryTypeHost ? (void*)ptr : NULL;
  }
  pthread_mutex_unlock(&registry);
  memcpy(out, &head, sizeof head);
  memset(out + sizeof head, 0x5A, sizeof out - sizeof head); /* the fields CUDA 13 added */
  memcpy(attributes, out, sizeof out);
  return cudaSuccess;
}
