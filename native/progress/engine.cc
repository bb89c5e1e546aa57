#include "progress/engine.h"

#include <algorithm>

#include "core/process_state.h"
#include "core/slots.h"

namespace mpi4node {

Engine::Engine(napi_env env, uv_loop_t* loop) : poller_(env, loop, this) {}

void Engine::SetSink(Napi::Function onComplete, int32_t* doneSlots, double* doneStatus, int capacity) {
  poller_.SetCallback(onComplete);
  doneSlots_ = doneSlots;
  doneStatus_ = doneStatus;
  capacity_ = capacity;
}

int Engine::NewSlot(SlotKind kind, bool isRecv, uint32_t index) {
  const int slot = TakeIndex(slots_, freeSlots_);
  slots_[slot] = {kind, isRecv, index};
  ProcessState::Get().pending.fetch_add(1, std::memory_order_relaxed);
  return slot;
}

void Engine::FreeSlot(int slot) {
  slots_[slot].kind = SlotKind::kFree;
  freeSlots_.push_back(slot);
  ProcessState::Get().pending.fetch_sub(1, std::memory_order_relaxed);
}

void Engine::RemoveRequestAt(uint32_t i) {
  const uint32_t last = static_cast<uint32_t>(reqs_.size() - 1);
  if (i != last) {
    reqs_[i] = reqs_[last];
    reqSlots_[i] = reqSlots_[last];
    slots_[reqSlots_[i]].index = i;
  }
  reqs_.pop_back();
  reqSlots_.pop_back();
}

// Probes keep their posting order: two receives of unknown size for the same source and tag must
// match messages in the order they were posted, as MPI's own matching would.
void Engine::RemoveProbeAt(uint32_t i) {
  probes_.erase(probes_.begin() + i);
  for (uint32_t j = i; j < probes_.size(); ++j) slots_[probes_[j].slot].index = j;
}

// The byte count and cancelled flag of a status. Asking MPI (MPI_Get_elements_x with MPI_BYTE, then
// MPI_Test_cancelled) costs ~110 instructions per receive, a quarter of what the addon adds to a small
// blocking receive; Open MPI and MPICH keep both in documented-by-header fields of MPI_Status, counted in
// bytes, so those are read directly. Any other MPI is asked.
static inline double StatusBytes(const MPI_Status& st) {
#if defined(OPEN_MPI) && OPEN_MPI
  return static_cast<double>(st._ucount);
#elif defined(MPICH_NUM_VERSION) && MPICH_NUM_VERSION >= 30100000
  const uint64_t hi = static_cast<unsigned>(st.count_hi_and_cancelled) >> 1;
  return static_cast<double>((hi << (8 * sizeof(int))) + static_cast<unsigned>(st.count_lo));
#else
  MPI_Count bytes = 0;
  MPI_Get_elements_x(&st, MPI_BYTE, &bytes);
  return bytes == MPI_UNDEFINED ? 0 : static_cast<double>(bytes);
#endif
}

static inline int StatusCancelled(const MPI_Status& st) {
#if defined(OPEN_MPI) && OPEN_MPI
  return st._cancelled != 0;
#elif defined(MPICH_NUM_VERSION) && MPICH_NUM_VERSION >= 30100000
  return st.count_hi_and_cancelled & 1;
#else
  int c = 0;
  MPI_Test_cancelled(&st, &c);
  return c;
#endif
}

void FillStatus(const MPI_Status& st, int rc, bool isRecv, double* out) {
  out[kError] = rc;
  out[kMessage] = -1;
  out[kCancelled] = StatusCancelled(st);
  if (!isRecv) {
    out[kSource] = out[kTag] = out[kBytes] = 0;
    return;
  }
  out[kSource] = st.MPI_SOURCE;
  out[kTag] = st.MPI_TAG;
  out[kBytes] = StatusBytes(st);
}

int Engine::Track(MPI_Request req, bool isRecv, double* status) {
  // Spin only when this is the sole operation in flight: a window of many posts must not pay the
  // spin once per post.
  if (reqs_.empty() && probes_.empty()) {
    // The clock is read only once the first test has failed and then every kTestsPerClockRead tests:
    // an eager send or an already-arrived message completes on the first test, and a clock read
    // (~15 ns) is a good part of one test (~40 ns), so the spin also notices an arrival sooner.
    MPI_Status st;
    int flag = 0;
    uint64_t t0 = 0;
    for (unsigned n = 0;; ++n) {
      int rc = MPI_Test(&req, &flag, &st);
      if (rc != MPI_SUCCESS || flag) {
        FillStatus(st, rc, isRecv, status);
        return -1;
      }
      if (n % kTestsPerClockRead != 0) continue;
      const uint64_t now = uv_hrtime();
      if (n == 0) t0 = now;
      else if (now - t0 >= kPostSpinNs) break;
    }
  }
  const int slot = NewSlot(SlotKind::kRequest, isRecv, static_cast<uint32_t>(reqs_.size()));
  reqs_.push_back(req);
  reqSlots_.push_back(slot);
  poller_.Arm();
  return slot;
}

// The record of a probe cancelled before a message matched it.
static void FillCancelled(double* out) {
  out[kSource] = out[kTag] = out[kBytes] = out[kError] = 0;
  out[kCancelled] = 1;
  out[kMessage] = -1;
}

int Engine::ProbeOnce(Probe& p, bool* matched, double* out) {
  if (p.cancelled) {
    FillCancelled(out);
    *matched = true;
    return MPI_SUCCESS;
  }
  int flag = 0;
  MPI_Message msg;
  MPI_Status st;
  int rc = MPI_Improbe(p.source, p.tag, p.comm, &flag, &msg, &st);
  *matched = false;
  if (rc != MPI_SUCCESS) {
    FillStatus(st, rc, true, out);
    out[kSource] = out[kTag] = out[kBytes] = 0;
    *matched = true;
    return rc;
  }
  if (!flag) return MPI_SUCCESS;
  FillStatus(st, MPI_SUCCESS, true, out);
  out[kMessage] = PutMessage(msg);
  *matched = true;
  return MPI_SUCCESS;
}

int Engine::TrackProbe(int source, int tag, MPI_Comm comm, double* status) {
  Probe p{source, tag, comm, -1, false};
  const bool alone = reqs_.empty() && probes_.empty();
  uint64_t t0 = 0;
  for (unsigned n = 0;; ++n) {  // the clock as in Track
    bool matched;
    ProbeOnce(p, &matched, status);
    if (matched) return -1;
    if (!alone) break;
    if (n % kTestsPerClockRead != 0) continue;
    const uint64_t now = uv_hrtime();
    if (n == 0) t0 = now;
    else if (now - t0 >= kPostSpinNs) break;
  }
  p.slot = NewSlot(SlotKind::kProbe, true, static_cast<uint32_t>(probes_.size()));
  probes_.push_back(p);
  poller_.Arm();
  return p.slot;
}

int Engine::Wait(int slot, double* status) {
  if (slot < 0 || slot >= static_cast<int>(slots_.size())) return MPI_ERR_REQUEST;
  SlotInfo& s = slots_[slot];
  int rc;
  if (s.kind == SlotKind::kRequest) {
    const uint32_t i = s.index;
    MPI_Status st;
    rc = MPI_Wait(&reqs_[i], &st);
    FillStatus(st, rc, s.isRecv, status);
    RemoveRequestAt(i);
  } else if (s.kind == SlotKind::kProbe) {
    const uint32_t i = s.index;
    Probe p = probes_[i];
    RemoveProbeAt(i);
    if (p.cancelled) {
      FillCancelled(status);
      rc = MPI_SUCCESS;
    } else {
      MPI_Message msg;
      MPI_Status st;
      rc = MPI_Mprobe(p.source, p.tag, p.comm, &msg, &st);
      FillStatus(st, rc, true, status);
      if (rc == MPI_SUCCESS) status[kMessage] = PutMessage(msg);
    }
  } else {
    return MPI_ERR_REQUEST;
  }
  FreeSlot(slot);
  return rc;
}

int Engine::Test(int slot, bool* done, double* status) {
  *done = false;
  if (slot < 0 || slot >= static_cast<int>(slots_.size())) return MPI_ERR_REQUEST;
  SlotInfo& s = slots_[slot];
  int rc = MPI_SUCCESS;
  if (s.kind == SlotKind::kRequest) {
    const uint32_t i = s.index;
    int flag = 0;
    MPI_Status st;
    rc = MPI_Test(&reqs_[i], &flag, &st);
    if (!flag && rc == MPI_SUCCESS) return MPI_SUCCESS;
    FillStatus(st, rc, s.isRecv, status);
    RemoveRequestAt(i);
  } else if (s.kind == SlotKind::kProbe) {
    const uint32_t i = s.index;
    bool matched = false;
    rc = ProbeOnce(probes_[i], &matched, status);
    if (!matched) return MPI_SUCCESS;
    RemoveProbeAt(i);
  } else {
    return MPI_ERR_REQUEST;
  }
  FreeSlot(slot);
  *done = true;
  return rc;
}

int Engine::Cancel(int slot) {
  if (slot < 0 || slot >= static_cast<int>(slots_.size())) return MPI_ERR_REQUEST;
  SlotInfo& s = slots_[slot];
  if (s.kind == SlotKind::kRequest) return MPI_Cancel(&reqs_[s.index]);
  if (s.kind == SlotKind::kProbe) {
    probes_[s.index].cancelled = true;
    poller_.Arm();
    return MPI_SUCCESS;
  }
  return MPI_ERR_REQUEST;
}

int Engine::PutMessage(MPI_Message m) {
  const int id = TakeIndex(messages_, freeMessages_);
  messages_[id] = m;
  return id;
}

MPI_Message Engine::TakeMessage(int id) {
  if (id < 0 || id >= static_cast<int>(messages_.size()) || messages_[id] == MPI_MESSAGE_NULL) {
    return MPI_MESSAGE_NULL;
  }
  MPI_Message m = messages_[id];
  messages_[id] = MPI_MESSAGE_NULL;
  freeMessages_.push_back(id);
  return m;
}

int Engine::Sweep() {
  int n = 0;
  // Testsome over windows no larger than the free room in the sink, so a sweep never completes more
  // requests than it can report.
  size_t off = 0;
  while (off < reqs_.size() && n < capacity_) {
    const int window = static_cast<int>(std::min<size_t>(reqs_.size() - off, capacity_ - n));
    statuses_.resize(window);
    indices_.resize(window);
    int outcount = 0;
    int rc = MPI_Testsome(window, &reqs_[off], &outcount, indices_.data(), statuses_.data());
    if (outcount == MPI_UNDEFINED) outcount = 0;
    for (int k = 0; k < outcount; ++k) {
      const size_t i = off + indices_[k];
      const int slot = reqSlots_[i];
      const int err = rc == MPI_ERR_IN_STATUS ? statuses_[k].MPI_ERROR : rc;
      doneSlots_[n] = slot;
      FillStatus(statuses_[k], err, slots_[slot].isRecv, doneStatus_ + n * kStatusFields);
      ++n;
    }
    off += window;
  }
  // Completed entries were set to MPI_REQUEST_NULL by Testsome; compact them out.
  if (n > 0) {
    for (uint32_t i = 0; i < reqs_.size();) {
      if (reqs_[i] == MPI_REQUEST_NULL) {
        FreeSlot(reqSlots_[i]);
        RemoveRequestAt(i);
      } else {
        ++i;
      }
    }
  }
  for (uint32_t i = 0; i < probes_.size() && n < capacity_;) {
    Probe& p = probes_[i];
    double* out = doneStatus_ + n * kStatusFields;
    bool matched = false;
    ProbeOnce(p, &matched, out);
    if (!matched) {
      ++i;
      continue;
    }
    doneSlots_[n++] = p.slot;
    FreeSlot(p.slot);
    RemoveProbeAt(i);
  }
  return n;
}

bool Engine::MayPoll() const { return ProcessState::Get().CallerMayUseMpi(); }

void Engine::Shutdown(bool mpiUsable) {
  if (mpiUsable) {
    // Receives can always be cancelled locally; sends are released and finish in the background.
    for (size_t i = 0; i < reqs_.size(); ++i) {
      if (slots_[reqSlots_[i]].isRecv) {
        MPI_Cancel(&reqs_[i]);
        MPI_Wait(&reqs_[i], MPI_STATUS_IGNORE);
      } else {
        MPI_Request_free(&reqs_[i]);
      }
      ProcessState::Get().pending.fetch_sub(1, std::memory_order_relaxed);
    }
    ProcessState::Get().pending.fetch_sub(static_cast<int64_t>(probes_.size()), std::memory_order_relaxed);
  }
  reqs_.clear();
  probes_.clear();
  poller_.Close([](void* self) { delete static_cast<Engine*>(self); }, this);
}

}  // namespace mpi4node
