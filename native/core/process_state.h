// Process-wide MPI state. MPI is initialised once per process, but the addon can be loaded by several
// Node environments (the main thread and worker_threads); each holds one reference to this object.
#pragma once

#include <mpi.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace mpi4node {

// Communicators are handed to JavaScript as small integer handles into one fixed table, so the hot path
// is an array index (no napi_wrap/unwrap) and the table never reallocates under a concurrent reader.
constexpr int kMaxComms = 1 << 14;
// Every communicator the user sees has a private duplicate for the library's own traffic (object
// messages, channel headers), registered as a handle of its own so every call works on either.
constexpr int kWorldHandle = 0;
constexpr int kSelfHandle = 1;
constexpr int kWorldInternalHandle = 2;
constexpr int kSelfInternalHandle = 3;
constexpr int kFirstUserHandle = 4;


// A count that one thread changes and other threads read (the requests pending in one environment).
// The owner's updates are a plain load and store: a locked add was ~7 ns, two per request, 2-3% of
// a window of small messages. Readers sum every registered count (ProcessState::Pending).
class OwnedCount {
 public:
  void Add(int64_t d) { n_.store(n_.load(std::memory_order_relaxed) + d, std::memory_order_relaxed); }
  int64_t Get() const { return n_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> n_{0};
};

class ProcessState {
 public:
  // Inline because every MPI call reads it: a function-local static would cost a call and a guard.
  static ProcessState& Get() { return *instance_; }

  void Acquire();
  // Returns true when this was the last environment and MPI was finalised (or never initialised).
  bool Release();

  // Initialises MPI if needed. Returns MPI_SUCCESS or an MPI error code; `owner` becomes the thread
  // allowed to call MPI when the provided level is below MPI_THREAD_MULTIPLE.
  int Init(int requested);
  int Finalize();
  // Exit goes on without MPI_Finalize (operations that cannot complete are still in flight, and
  // MPI_Finalize would wait for them): nothing finalises MPI from now on.
  void SkipFinalize() { skipFinalize_.store(true, std::memory_order_release); }
  bool finalizeSkipped() const { return skipFinalize_.load(std::memory_order_acquire); }
  bool initialized() const { return initialized_.load(std::memory_order_acquire); }
  bool finalized() const { return finalized_.load(std::memory_order_acquire); }
  // Between MPI_Init and MPI_Finalize: the only time MPI may be called (MPICH ends the process otherwise).
  bool running() const { return initialized() && !finalized(); }
  int provided() const { return provided_; }
  // True when the calling thread may call MPI (initialised, not finalised, thread level permits).
  bool CallerMayUseMpi() const;

  // Comm table. Add returns the handle or -1 when full; Comm returns MPI_COMM_NULL for a bad handle.
  int AddComm(MPI_Comm comm);
  MPI_Comm Comm(int handle) const {
    return handle >= 0 && handle < kMaxComms ? comms_[handle] : MPI_COMM_NULL;
  }
  void RemoveComm(int handle);

  // Operations pending in any environment; finalisation is skipped while any are.
  int64_t Pending();
  // An environment's engine counts its requests in `c` from Count until Uncount; what `c` still
  // counts then stays pending unless `completed` (they were cancelled or released).
  void Count(OwnedCount* c);
  void Uncount(OwnedCount* c, bool completed);
  // Operations counted from any thread (GPU staging): an atomic add each, rare next to requests.
  std::atomic<int64_t> pending{0};

 private:
  static ProcessState* const instance_;
  ProcessState();
  std::mutex mu_;
  int refs_ = 0;
  std::atomic<bool> initialized_{false};
  std::atomic<bool> finalized_{false};
  std::atomic<bool> skipFinalize_{false};
  int provided_ = MPI_THREAD_SINGLE;
  std::thread::id owner_;
  int nextComm_ = kFirstUserHandle;
  std::vector<OwnedCount*> counts_;
  MPI_Comm comms_[kMaxComms];
};

}  // namespace mpi4node
