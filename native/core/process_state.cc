#include "core/process_state.h"

#include <dlfcn.h>

#include <algorithm>

namespace mpi4node {

ProcessState::ProcessState() {
  for (auto& c : comms_) c = MPI_COMM_NULL;
}

// Made when the addon is loaded (the constructor touches no MPI) and leaked on purpose: environments
// are torn down in no fixed order at exit, and a static destructor running after the last of them
// must not touch MPI.
ProcessState* const ProcessState::instance_ = new ProcessState();

void ProcessState::Acquire() {
  std::lock_guard<std::mutex> lock(mu_);
  ++refs_;
}

bool ProcessState::Release() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (--refs_ > 0) return false;
  }
  if (running() && !finalizeSkipped() && Pending() == 0) Finalize();
  return true;
}

int64_t ProcessState::Pending() {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t n = pending.load();
  for (const OwnedCount* c : counts_) n += c->Get();
  return n;
}

void ProcessState::Count(OwnedCount* c) {
  std::lock_guard<std::mutex> lock(mu_);
  counts_.push_back(c);
}

void ProcessState::Uncount(OwnedCount* c, bool completed) {
  std::lock_guard<std::mutex> lock(mu_);
  counts_.erase(std::remove(counts_.begin(), counts_.end(), c), counts_.end());
  if (!completed) pending.fetch_add(c->Get());
}

// Node loads addons with RTLD_LOCAL, so libmpi's symbols are invisible to the MCA plugins Open MPI
// dlopens during MPI_Init ("undefined symbol: ompi_..."). Re-opening the already loaded libmpi with
// RTLD_GLOBAL fixes that; mpi4py does the same.
static void PromoteLibmpiToGlobal() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&MPI_Init_thread), &info) && info.dli_fname != nullptr) {
    dlopen(info.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
  }
}

int ProcessState::Init(int requested) {
  std::lock_guard<std::mutex> lock(mu_);
  if (initialized()) return MPI_SUCCESS;
  int already = 0;
  MPI_Initialized(&already);
  int rc = MPI_SUCCESS;
  if (already) {
    MPI_Query_thread(&provided_);
  } else {
    PromoteLibmpiToGlobal();
    rc = MPI_Init_thread(nullptr, nullptr, requested, &provided_);
    if (rc != MPI_SUCCESS) return rc;
  }
  owner_ = std::this_thread::get_id();
  // Errors come back as codes and become JavaScript exceptions; the default handler would abort the
  // job on the first bad argument.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_set_errhandler(MPI_COMM_SELF, MPI_ERRORS_RETURN);
  MPI_Comm worldInternal, selfInternal;
  rc = MPI_Comm_dup(MPI_COMM_WORLD, &worldInternal);
  if (rc != MPI_SUCCESS) return rc;
  rc = MPI_Comm_dup(MPI_COMM_SELF, &selfInternal);
  if (rc != MPI_SUCCESS) return rc;
  comms_[kWorldHandle] = MPI_COMM_WORLD;
  comms_[kSelfHandle] = MPI_COMM_SELF;
  comms_[kWorldInternalHandle] = worldInternal;
  comms_[kSelfInternalHandle] = selfInternal;
  initialized_.store(true, std::memory_order_release);
  return MPI_SUCCESS;
}

int ProcessState::Finalize() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!running()) return MPI_SUCCESS;
  finalized_.store(true, std::memory_order_release);
  int fin = 0;
  MPI_Finalized(&fin);
  if (fin) return MPI_SUCCESS;
  return MPI_Finalize();
}

bool ProcessState::CallerMayUseMpi() const {
  if (!running()) return false;
  return provided_ == MPI_THREAD_MULTIPLE || std::this_thread::get_id() == owner_;
}

int ProcessState::AddComm(MPI_Comm comm) {
  std::lock_guard<std::mutex> lock(mu_);
  for (int i = 0; i < kMaxComms; ++i) {
    int h = (nextComm_ + i) % kMaxComms;
    if (h < kFirstUserHandle) continue;
    if (comms_[h] == MPI_COMM_NULL) {
      comms_[h] = comm;
      nextComm_ = h + 1;
      return h;
    }
  }
  return -1;
}

void ProcessState::RemoveComm(int handle) {
  std::lock_guard<std::mutex> lock(mu_);
  if (handle >= kFirstUserHandle && handle < kMaxComms) comms_[handle] = MPI_COMM_NULL;
}

}  // namespace mpi4node
