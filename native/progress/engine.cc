#include "progress/engine.h"

#include <algorithm>
#include <cstring>
#include <functional>

#include "core/buffers.h"
#include "core/errors.h"
#include "core/process_state.h"
#include "core/slots.h"

namespace mpi4node {

Engine::Engine(napi_env env, uv_loop_t* loop) : poller_(env, loop, this) { ProcessState::Get().Count(&live_); }

void Engine::SetSink(Napi::Function onComplete, int32_t* doneSlots, double* doneStatus, int capacity) {
  poller_.SetCallback(onComplete);
  doneSlots_ = doneSlots;
  doneStatus_ = doneStatus;
  capacity_ = capacity;
}

int Engine::NewSlot(SlotKind kind, bool isRecv, uint32_t index, bool internal) {
  const int slot = TakeIndex(slots_, freeSlots_);
  slots_[slot] = {kind, isRecv, false, false, internal, index, -1};
  if (internal) return slot;
  if (refd_++ == 0) poller_.SetRef(true);
  live_.Add(1);
  return slot;
}

void Engine::EndActivation(int slot, int rc) {
  if (slots_[slot].persist >= 0 && rc != MPI_SUCCESS) persist_[slots_[slot].persist].failed = true;
}

void Engine::FreeSlot(int slot) {
  SlotInfo& s = slots_[slot];
  if (s.persist >= 0) persist_[s.persist].active = false;
  if (s.internal) {
    s.kind = SlotKind::kFree;
    freeSlots_.push_back(slot);
    return;
  }
  live_.Add(-1);
  // Only unreferenced slots left: let the loop end. (With nothing left the poller stops anyway.)
  if (!s.unref && --refd_ == 0 && live_.Get() > 0) poller_.SetRef(false);
  s.kind = SlotKind::kFree;
  freeSlots_.push_back(slot);
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

// Unposted receives keep their posting order: it is what decides which of them may match a message.
void Engine::EraseUnposted(size_t i) {
  unposted_.erase(unposted_.begin() + static_cast<std::ptrdiff_t>(i));
  for (size_t j = i; j < unposted_.size(); ++j) slots_[unposted_[j].slot].index = static_cast<uint32_t>(j);
}

// Matched records are delivered in the order they were made (the order their receives were posted in).
void Engine::TakeMatched(int slot, double* out) {
  const uint32_t i = slots_[slot].index;
  std::memcpy(out, matched_[i].rec, sizeof matched_[i].rec);
  matched_.erase(matched_.begin() + i);
  for (size_t j = i; j < matched_.size(); ++j) slots_[matched_[j].slot].index = static_cast<uint32_t>(j);
  FreeSlot(slot);
}

// The position in `slots` of the first matched receive, taken into out[position], or -1.
int Engine::TakeFirstMatched(const int32_t* slots, int n, double* out) {
  for (int k = 0; k < n; ++k) {
    if (Valid(slots[k]) && slots_[slots[k]].kind == SlotKind::kMatched) {
      TakeMatched(slots[k], out + k * kStatusFields);
      return k;
    }
  }
  return -1;
}

// The byte count of a status. Asking MPI (MPI_Get_elements_x with MPI_BYTE) costs ~60 instructions per
// receive, a good part of what the addon adds to a small blocking receive; Open MPI and MPICH keep the
// count in fields their mpi.h documents, in bytes, for every completed receive and every probe, so those
// are read directly. Any other MPI is asked.
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

void FillStatus(const MPI_Status& st, int rc, bool isRecv, bool cancelAsked, double* out) {
  out[kError] = rc;
  out[kMessage] = -1;
  // Only a request asked to cancel can have been cancelled, and only then is the flag MPI's to set:
  // MPICH leaves it as it found it in statuses it has no reason to mark (a probe's, for one).
  int cancelled = 0;
  if (cancelAsked) MPI_Test_cancelled(&st, &cancelled);
  out[kCancelled] = cancelled;
  if (!isRecv) {
    out[kSource] = out[kTag] = out[kBytes] = 0;
    return;
  }
  out[kSource] = st.MPI_SOURCE;
  out[kTag] = st.MPI_TAG;
  out[kBytes] = StatusBytes(st);
}

// Reading a request's error after MPI_Waitall, Testall, Waitsome, Testsome, Waitany or Testany. The
// statuses hold the errors when the call returns MPI_ERR_IN_STATUS, and also, in Open MPI 4.1, when
// Testall or Testany return MPI_SUCCESS for a persistent request that failed (a truncated receive):
// so each status's error is set to MPI_SUCCESS before the call (an MPI that succeeds need not write
// it) and read after it unless the call itself failed.
static void ClearErrors(MPI_Status* st, size_t n) {
  for (size_t k = 0; k < n; ++k) st[k].MPI_ERROR = MPI_SUCCESS;
}
static int ErrorOf(const MPI_Status& st, int rc) {
  return rc == MPI_SUCCESS || rc == MPI_ERR_IN_STATUS ? st.MPI_ERROR : rc;
}

// The record of an unposted receive cancelled before a message matched it.
static void FillCancelled(double* out) {
  out[kSource] = out[kTag] = out[kBytes] = out[kError] = 0;
  out[kCancelled] = 1;
  out[kMessage] = -1;
}

// MPI's status of a receive from MPI_PROC_NULL (MPI-4.1 §3.11): the engine completes those itself, since
// MPICH 4.0.2 reports source 0 and tag 0 for an MPI_Irecv from MPI_PROC_NULL.
static void FillProcNull(double* out) {
  out[kSource] = MPI_PROC_NULL;
  out[kTag] = MPI_ANY_TAG;
  out[kBytes] = out[kError] = out[kCancelled] = 0;
  out[kMessage] = -1;
}

// The record of an operation that ended with `rc` and nothing else to report (MPI_SUCCESS for a batch).
static void FillError(double* out, int rc) {
  out[kSource] = out[kTag] = out[kBytes] = out[kCancelled] = 0;
  out[kError] = rc;
  out[kMessage] = -1;
}

void Engine::FillBadSlot(double* out) { FillError(out, MPI_ERR_REQUEST); }

int Engine::Track(MPI_Request req, bool isRecv, double* status, bool test) {
  if (test) {
    MPI_Status st;
    int flag = 0;
    const int rc = MPI_Test(&req, &flag, &st);
    if (rc != MPI_SUCCESS || flag) {
      FillStatus(st, rc, isRecv, false, status);
      return -1;
    }
  }
  const int slot = NewSlot(SlotKind::kRequest, isRecv, static_cast<uint32_t>(reqs_.size()));
  reqs_.push_back(req);
  reqSlots_.push_back(slot);
  poller_.Arm();
  return slot;
}

int Engine::Progress(uint64_t spinNs) {
  if (pending() == 0 || !MayPoll()) return 0;
  // The clock is read only every kTestsPerClockRead sweeps: a sweep over a few requests is ~40 ns and
  // a clock read ~15 ns, so the spin also notices an arrival sooner.
  const uint64_t t0 = uv_hrtime();
  for (unsigned k = 1;; ++k) {
    const int n = Sweep();
    if (n > 0 || pending() == 0) return n;
    if (k % kTestsPerClockRead == 0 && uv_hrtime() - t0 >= spinNs) return 0;
  }
}

// ---- persistent requests ----

int Engine::AddPersistent(MPI_Request req, bool isRecv, const Envelope& e, bool coll) {
  const int id = TakeIndex(persist_, freePersist_);
  persist_[id] = {req, e, isRecv, false, false, req == MPI_REQUEST_NULL, false, coll, Persistent::Ended::kMpi, {}};
  return id;
}

int Engine::CheckStartable(int id) const {
  if (id < 0 || id >= static_cast<int>(persist_.size()) || persist_[id].freed) return MPI_ERR_REQUEST;
  if (persist_[id].active) return kErrRequestActive;
  return persist_[id].failed ? kErrRequestFailed : MPI_SUCCESS;
}

int Engine::StartPersistent(int id, double* status, int* rc) {
  *rc = CheckStartable(id);
  if (*rc != MPI_SUCCESS) return -1;
  Persistent& p = persist_[id];
  if (p.procNull) {
    FillProcNull(status);
    return -1;
  }
  if (p.isRecv && Blocked(p.env)) {
    p.active = true;
    const int slot = PushUnposted({p.env, -1, true, nullptr, 0, MPI_DATATYPE_NULL, id});
    slots_[slot].persist = id;
    return slot;
  }
  *rc = MPI_Start(&p.req);
  if (*rc != MPI_SUCCESS) return -1;
  p.active = true;
  // Testing a copy of the handle leaves the persistent request itself allocated (inactive once complete).
  const int slot = Track(p.req, p.isRecv, status, !p.isRecv);
  if (slot < 0) p.active = false;
  else slots_[slot].persist = id;
  return slot;
}

int Engine::StartBatch(const int32_t* ids, int n, double* status, int* rc) {
  // Each request is marked active once checked, so one listed twice is found active the second time:
  // one pass, where comparing every pair cost ~8k comparisons for a window of 128.
  const auto unmark = [&](int upTo) {
    for (int k = 0; k < upTo; ++k) persist_[ids[k]].active = false;
  };
  int marked = 0, procNulls = 0;
  for (; marked < n; ++marked) {
    *rc = CheckStartable(ids[marked]);
    if (*rc != MPI_SUCCESS) {
      unmark(marked);
      return -1;
    }
    Persistent& p = persist_[ids[marked]];
    p.active = true;
    procNulls += p.procNull;
  }
  // Receives behind an earlier unposted one that could take their message start once it has matched
  // (and those after them in the batch that overlap them, in order): a loop of persistent requests has
  // neither PROC_NULL ones nor unposted receives, and builds its batch directly.
  const uint8_t* later = nullptr;
  if (procNulls > 0 || !unposted_.empty()) {
    batchLater_.assign(n, 0);
    for (int k = 0; k < n; ++k) {
      const Persistent& p = persist_[ids[k]];
      if (p.procNull) {
        batchLater_[k] = 1;
      } else if (p.isRecv && !unposted_.empty()) {
        bool blocked = Blocked(p.env);
        for (int j = 0; j < k && !blocked; ++j) blocked = batchLater_[j] == 2 && Overlap(persist_[ids[j]].env, p.env);
        if (blocked) batchLater_[k] = 2;
      }
    }
    later = batchLater_.data();
  }
  if (procNulls == n) {  // complete already: the record of a completed batch
    for (int k = 0; k < n; ++k) {
      persist_[ids[k]].active = false;
      persist_[ids[k]].ended = Persistent::Ended::kProcNull;
    }
    FillError(status, MPI_SUCCESS);
    return -1;
  }
  const int slot = NewBatch(ids, n, later);
  Batch& b = batches_[slots_[slot].index];
  *rc = b.handles.empty() ? MPI_SUCCESS : MPI_Startall(static_cast<int>(b.handles.size()), b.handles.data());
  if (*rc != MPI_SUCCESS) {
    RemoveBatchAt(slots_[slot].index);
    FreeSlot(slot);
    unmark(n);
    return -1;
  }
  for (int k = 0; later && k < n; ++k) {
    if (later[k] != 2) continue;
    PushUnposted({persist_[ids[k]].env, -1, true, nullptr, 0, MPI_DATATYPE_NULL, ids[k], slot}, true);
    ++batches_[slots_[slot].index].deferred;
  }
  poller_.Arm();
  return slot;
}

int Engine::FreePersistent(int id) {
  const int rc = CheckStartable(id);
  if (rc != MPI_SUCCESS && rc != kErrRequestFailed) return rc;
  Persistent& p = persist_[id];
#if defined(OPEN_MPI) && OPEN_MPI
  // Open MPI 4.1 aborts the process ("free(): invalid pointer" in pml ob1) when a persistent receive
  // that completed with an error (a truncation) is freed: that request object is left to the process
  // (test/unit/mpi-quirks.test.ts reproduces it in C).
  const bool leave = p.procNull || rc == kErrRequestFailed;
#else
  const bool leave = p.procNull;
#endif
  const int r = leave ? MPI_SUCCESS : MPI_Request_free(&p.req);
  p.req = MPI_REQUEST_NULL;
  p.freed = true;
  freePersist_.push_back(id);
  return r;
}

int Engine::NewBatch(const int32_t* ids, int n, const uint8_t* later) {
  const int slot = NewSlot(SlotKind::kBatch, false, static_cast<uint32_t>(batches_.size()));
  Batch b{slot, {}, {}};
  if (!later) {
    b.ids.assign(ids, ids + n);
    b.handles.resize(n);
    for (int k = 0; k < n; ++k) b.handles[k] = persist_[ids[k]].req;
  } else {
    b.ids.reserve(n);
    b.handles.reserve(n);
    for (int k = 0; k < n; ++k) {
      Persistent& p = persist_[ids[k]];
      if (later[k] == 1) {  // complete already, and not MPI's
        p.active = false;
        p.ended = Persistent::Ended::kProcNull;
      }
      if (later[k] != 0) continue;
      b.ids.push_back(ids[k]);
      b.handles.push_back(p.req);
    }
  }
  batches_.push_back(std::move(b));
  return slot;
}

void Engine::RemoveBatchAt(uint32_t i) {
  const uint32_t last = static_cast<uint32_t>(batches_.size() - 1);
  if (i != last) {
    batches_[i] = std::move(batches_[last]);
    slots_[batches_[i].slot].index = i;
  }
  batches_.pop_back();
}

int Engine::CancelBatch(int slot) {
  Batch& b = batches_[slots_[slot].index];
  b.cancelAsked = true;
  int rc = MPI_SUCCESS;
  for (size_t k = 0; k < b.handles.size(); ++k) {
    if (persist_[b.ids[k]].coll) continue;
    const int r = MPI_Cancel(&b.handles[k]);
    if (rc == MPI_SUCCESS) rc = r;
  }
  for (size_t i = unposted_.size(); i-- > 0;) {
    if (unposted_[i].batch != slot) continue;
    Persistent& p = persist_[unposted_[i].persist];
    p.active = false;
    p.ended = Persistent::Ended::kDropped;
    const int member = unposted_[i].slot;
    EraseUnposted(i);
    FreeSlot(member);  // internal
    --b.deferred;
  }
  poller_.Arm();
  return rc;
}

bool Engine::BatchStatus(int id, bool cancelAsked, double* out) const {
  if (id < 0 || id >= static_cast<int>(persist_.size())) return false;
  const Persistent& p = persist_[id];
  if (p.ended == Persistent::Ended::kProcNull) FillProcNull(out);
  else if (p.ended == Persistent::Ended::kDropped) FillCancelled(out);
  else FillStatus(p.last, MPI_SUCCESS, p.isRecv, cancelAsked, out);
  return true;
}

bool Engine::FinishBatch(int slot, bool wait, double* out) {
  if (!CompleteBatchAt(slots_[slot].index, wait, out)) return false;
  FreeSlot(slot);
  return true;
}

bool Engine::CompleteBatchAt(uint32_t i, bool wait, double* out) {
  Batch& b = batches_[i];
  if (b.deferred > 0) {
    if (!wait) return false;
    while (b.deferred > 0) Advance();
  }
  const int n = static_cast<int>(b.handles.size());
  batchStatuses_.resize(n);
  ClearErrors(batchStatuses_.data(), batchStatuses_.size());
  int flag = 1, rc;
  if (wait) rc = MPI_Waitall(n, b.handles.data(), batchStatuses_.data());
  else rc = MPI_Testall(n, b.handles.data(), &flag, batchStatuses_.data());
  if (!flag && rc == MPI_SUCCESS) return false;
  // The statuses name the requests that failed, and those the call left pending when it returned on an
  // error (MPI_ERR_PENDING): a wait waits for them, a test leaves the batch to a later test. What failed
  // is remembered, since a later call sees those requests only as inactive. Only the requests that
  // failed are not started again.
  bool pending = false;
  for (int k = 0; k < n; ++k) {
    int err = ErrorOf(batchStatuses_[k], rc);
    if (err == MPI_ERR_PENDING) {
      if (!wait) {
        pending = true;
        continue;
      }
      err = MPI_Wait(&b.handles[k], &batchStatuses_[k]);
    }
    if (err == MPI_SUCCESS) continue;
    persist_[b.ids[k]].failed = true;
    if (b.error == MPI_SUCCESS) b.error = err;
  }
  if (pending) return false;
  // With MPI_ERR_IN_STATUS the statuses decide, as MPI says they do: MPICH 4.0.2's MPI_Testall returns
  // it whenever a persistent collective is among the requests, every status MPI_SUCCESS
  // (test/unit/mpi-quirks.test.ts).
  if (!flag && b.error == MPI_SUCCESS) return false;
  FillError(out, b.error);
  for (int k = 0; k < n; ++k) {
    Persistent& p = persist_[b.ids[k]];
    p.active = false;
    if (p.isRecv || (b.cancelAsked && !p.coll)) {
      p.ended = Persistent::Ended::kMpi;
      p.last = batchStatuses_[k];
    }
  }
  RemoveBatchAt(i);
  return true;
}

bool Engine::BlockedBefore(const Envelope& e, size_t end) const {
  for (size_t i = 0; i < end; ++i) {
    if (Overlap(unposted_[i].env, e)) return true;
  }
  return false;
}

int Engine::PushUnposted(const Unposted& u, bool internal) {
  const int slot = NewSlot(SlotKind::kUnposted, true, static_cast<uint32_t>(unposted_.size()), internal);
  unposted_.push_back(u);
  unposted_.back().slot = slot;
  poller_.Arm();
  return slot;
}

int Engine::PostRecv(void* data, size_t count, MPI_Datatype type, const Envelope& e, double* status, int* rc) {
  *rc = MPI_SUCCESS;
  if (e.source == MPI_PROC_NULL) {
    FillProcNull(status);
    return -1;
  }
  if (Blocked(e)) return PushUnposted({e, -1, true, data, count, type});
  CountedType ct(count, type);
  MPI_Request req;
  *rc = ct.rc();
  if (*rc == MPI_SUCCESS) *rc = MPI_Irecv(data, ct.count(), ct.type(), e.source, e.tag, e.comm, &req);
  if (*rc != MPI_SUCCESS) return -1;
  return Track(req, true, status, false);
}

bool Engine::PostDeferred(const Unposted& u, MPI_Request* req, double* out) {
  CountedType ct(u.count, u.type);
  int rc = ct.rc();
  if (rc == MPI_SUCCESS) rc = MPI_Irecv(u.data, ct.count(), ct.type(), u.env.source, u.env.tag, u.env.comm, req);
  if (rc == MPI_SUCCESS) return true;
  FillError(out, rc);
  return false;
}

void Engine::StartDeferred(const Unposted& u) {
  Persistent& p = persist_[u.persist];
  const int rc = MPI_Start(&p.req);
  if (u.batch >= 0) {
    Batch& b = batches_[slots_[u.batch].index];
    --b.deferred;
    FreeSlot(u.slot);  // internal: ends no activation (the batch's does)
    if (rc == MPI_SUCCESS) {
      b.ids.push_back(u.persist);
      b.handles.push_back(p.req);
    } else {
      p.failed = true;
      p.active = false;
      if (b.error == MPI_SUCCESS) b.error = rc;
    }
    return;
  }
  if (rc != MPI_SUCCESS) {
    Matched m{u.slot, {}};
    FillError(m.rec, rc);
    EndActivation(u.slot, rc);
    AddMatched(m);
    return;
  }
  SlotInfo& s = slots_[u.slot];
  s.kind = SlotKind::kRequest;
  s.index = static_cast<uint32_t>(reqs_.size());
  reqs_.push_back(p.req);
  reqSlots_.push_back(u.slot);
}

bool Engine::ProbeOnce(const Envelope& e, double* out) {
  int flag = 0;
  MPI_Message msg;
  MPI_Status st;
  const int rc = MPI_Improbe(e.source, e.tag, e.comm, &flag, &msg, &st);
  if (rc != MPI_SUCCESS) {
    FillError(out, rc);
    return true;
  }
  if (!flag) return false;
  FillStatus(st, MPI_SUCCESS, true, false, out);
  out[kMessage] = PutMessage(msg);
  return true;
}

int Engine::PostProbe(const Envelope& e, double* status) {
  if (e.source == MPI_PROC_NULL) {  // nothing to match: an empty message, at once (kMessage -1)
    FillProcNull(status);
    return -1;
  }
  // One look now (a message that is already here is taken in posting order); Progress() spins later.
  if (!Blocked(e) && ProbeOnce(e, status)) return -1;
  return PushUnposted({e, -1, false, nullptr, 0, MPI_DATATYPE_NULL});
}

bool Engine::Advance() {
  bool changed = false;
  // Removing entry j can only unblock entries after it, so one pass in order sees every entry that
  // may go now.
  for (size_t j = 0; j < unposted_.size();) {
    const Unposted u = unposted_[j];
    if (BlockedBefore(u.env, j)) {
      ++j;
      continue;
    }
    Matched m{u.slot, {}};
    if (u.known && u.persist >= 0) {
      EraseUnposted(j);
      StartDeferred(u);
      changed = true;
      continue;
    }
    if (u.known) {
      MPI_Request req;
      EraseUnposted(j);
      if (PostDeferred(u, &req, m.rec)) {
        SlotInfo& s = slots_[u.slot];
        s.kind = SlotKind::kRequest;
        s.index = static_cast<uint32_t>(reqs_.size());
        reqs_.push_back(req);
        reqSlots_.push_back(u.slot);
      } else {
        AddMatched(m);
      }
      changed = true;
      continue;
    }
    if (!ProbeOnce(u.env, m.rec)) {
      ++j;
      continue;
    }
    EraseUnposted(j);
    AddMatched(m);
    changed = true;
  }
  if (changed) poller_.Arm();  // what was matched or posted here is reported by the next sweep
  return changed;
}

void Engine::DriveAheadSlow(const Envelope& e) {
  while (Blocked(e)) Advance();
}

int Engine::Wait(int slot, double* status) {
  if (!Valid(slot)) return MPI_ERR_REQUEST;
  if (slots_[slot].kind == SlotKind::kBatch) {
    FinishBatch(slot, true, status);
    return static_cast<int>(status[kError]);
  }
  while (slots_[slot].kind == SlotKind::kUnposted) Advance();
  SlotInfo& s = slots_[slot];
  if (s.kind == SlotKind::kMatched) {
    TakeMatched(slot, status);
    return static_cast<int>(status[kError]);
  }
  const uint32_t i = s.index;
  MPI_Status st;
  const int rc = MPI_Wait(&reqs_[i], &st);
  FillStatus(st, rc, s.isRecv, s.cancelAsked, status);
  EndActivation(slot, rc);
  RemoveRequestAt(i);
  FreeSlot(slot);
  return rc;
}

int Engine::Test(int slot, bool* done, double* status) {
  *done = false;
  if (!Valid(slot)) return MPI_ERR_REQUEST;
  if (slots_[slot].kind == SlotKind::kBatch) {
    *done = FinishBatch(slot, false, status);
    return *done ? static_cast<int>(status[kError]) : MPI_SUCCESS;
  }
  if (slots_[slot].kind == SlotKind::kUnposted) Advance();
  SlotInfo& s = slots_[slot];
  if (s.kind == SlotKind::kUnposted) return MPI_SUCCESS;
  if (s.kind == SlotKind::kMatched) {
    TakeMatched(slot, status);
    *done = true;
    return static_cast<int>(status[kError]);
  }
  const uint32_t i = s.index;
  int flag = 0;
  MPI_Status st;
  const int rc = MPI_Test(&reqs_[i], &flag, &st);
  if (!flag && rc == MPI_SUCCESS) return MPI_SUCCESS;
  FillStatus(st, rc, s.isRecv, s.cancelAsked, status);
  EndActivation(slot, rc);
  RemoveRequestAt(i);
  FreeSlot(slot);
  *done = true;
  return rc;
}

int Engine::Cancel(int slot) {
  if (!Valid(slot)) return MPI_ERR_REQUEST;
  SlotInfo& s = slots_[slot];
  if (s.kind == SlotKind::kRequest) {
    s.cancelAsked = true;
    return MPI_Cancel(&reqs_[s.index]);
  }
  if (s.kind == SlotKind::kBatch) return CancelBatch(slot);
  if (s.kind == SlotKind::kUnposted) {
    // Never seen by MPI: cancelled here and now; the entries it held back may go at the next sweep.
    EraseUnposted(s.index);
    Matched m{slot, {}};
    FillCancelled(m.rec);
    AddMatched(m);
    poller_.Arm();
  }
  return MPI_SUCCESS;  // a matched receive has its message: too late to cancel, as in MPI
}

int Engine::SetRef(int slot, bool ref) {
  if (!Valid(slot)) return MPI_ERR_REQUEST;
  SlotInfo& s = slots_[slot];
  if (s.unref == !ref) return MPI_SUCCESS;
  s.unref = !ref;
  refd_ += ref ? 1 : -1;
  poller_.SetRef(refd_ > 0);
  return MPI_SUCCESS;
}

// ---- several slots at once ----

bool Engine::AnyUnposted(const int32_t* slots, int n) const {
  for (int k = 0; k < n; ++k) {
    if (Valid(slots[k]) && slots_[slots[k]].kind == SlotKind::kUnposted) return true;
  }
  return false;
}

void Engine::Settle(const int32_t* slots, int n) {
  while (AnyUnposted(slots, n)) Advance();
}

void Engine::TestBatches(const int32_t* slots, int n, bool wait) {
  for (int k = 0; k < n; ++k) {
    if (!Valid(slots[k]) || slots_[slots[k]].kind != SlotKind::kBatch) continue;
    Matched m{slots[k], {}};
    if (!CompleteBatchAt(slots_[m.slot].index, wait, m.rec)) continue;
    // Complete: the batch becomes a matched record of the same slot, taken like any other.
    AddMatched(m);
  }
}

void Engine::Gather(const int32_t* slots, int n) {
  gathered_.clear();
  gatheredAt_.clear();
  for (int k = 0; k < n; ++k) {
    if (Valid(slots[k]) && slots_[slots[k]].kind == SlotKind::kRequest) {
      gathered_.push_back(reqs_[slots_[slots[k]].index]);
      gatheredAt_.push_back(k);
    }
  }
}

// MPI completed the copy gathered_[k] of a request (and released it): its table entry goes too.
#define COMPLETE_GATHERED(k, st, rc)                                                              \
  do {                                                                                           \
    const int pos_ = gatheredAt_[k], slot_ = slots[pos_];                                        \
    const SlotInfo s_ = slots_[slot_];                                                           \
    FillStatus(st, rc, s_.isRecv, s_.cancelAsked, out + pos_ * kStatusFields);                   \
    EndActivation(slot_, rc);                                                                    \
    RemoveRequestAt(s_.index);                                                                   \
    FreeSlot(slot_);                                                                             \
  } while (0)

bool Engine::AnyBatch(const int32_t* slots, int n) const {
  for (int k = 0; k < n; ++k) {
    if (Valid(slots[k]) && slots_[slots[k]].kind == SlotKind::kBatch) return true;
  }
  return false;
}

void Engine::WaitAll(const int32_t* slots, int n, double* out) {
  Settle(slots, n);
  TestBatches(slots, n, true);
  for (int k = 0; k < n; ++k) {
    if (!Valid(slots[k])) FillBadSlot(out + k * kStatusFields);
    else if (slots_[slots[k]].kind == SlotKind::kMatched) TakeMatched(slots[k], out + k * kStatusFields);
  }
  Gather(slots, n);
  if (gathered_.empty()) return;
  statuses_.resize(gathered_.size());
  ClearErrors(statuses_.data(), statuses_.size());
  const int rc = MPI_Waitall(static_cast<int>(gathered_.size()), gathered_.data(), statuses_.data());
  for (size_t k = 0; k < gathered_.size(); ++k) {
    int err = ErrorOf(statuses_[k], rc);
    if (err == MPI_ERR_PENDING) {
      // Neither failed nor complete (another request failed): waitall waits for it all the same.
      const int slot = slots[gatheredAt_[k]];
      err = MPI_Wait(&reqs_[slots_[slot].index], &statuses_[k]);
    }
    COMPLETE_GATHERED(k, statuses_[k], err);
  }
}

int Engine::WaitAny(const int32_t* slots, int n, double* out) {
  for (;;) {
    TestBatches(slots, n, false);
    if (const int k = TakeFirstMatched(slots, n, out); k >= 0) return k;
    const bool unposted = AnyUnposted(slots, n) || AnyBatch(slots, n);
    if (unposted) Advance();
    Gather(slots, n);
    if (gathered_.empty()) {
      if (!unposted) return -1;
      continue;
    }
    int index = MPI_UNDEFINED, rc;
    if (!unposted && !AnyUnposted(slots, n)) {
      MPI_Status st;
      ClearErrors(&st, 1);
      rc = MPI_Waitany(static_cast<int>(gathered_.size()), gathered_.data(), &index, &st);
      if (index != MPI_UNDEFINED) {
        COMPLETE_GATHERED(index, st, ErrorOf(st, rc));
        return gatheredAt_[index];
      }
    } else {
      index = TestAnyGathered(slots, out, &rc);
      if (index != MPI_UNDEFINED) return gatheredAt_[index];
    }
    if (rc != MPI_SUCCESS) {  // failed without naming a request: the first one carries the error
      FillBadSlot(out + gatheredAt_[0] * kStatusFields);
      out[gatheredAt_[0] * kStatusFields + kError] = rc;
      return gatheredAt_[0];
    }
  }
}

int Engine::TestAny(const int32_t* slots, int n, double* out) {
  if (AnyUnposted(slots, n)) Advance();
  TestBatches(slots, n, false);
  if (const int k = TakeFirstMatched(slots, n, out); k >= 0) return k;
  const bool unposted = AnyUnposted(slots, n) || AnyBatch(slots, n);
  Gather(slots, n);
  if (gathered_.empty()) return unposted ? -2 : -1;
  int rc;
  const int index = TestAnyGathered(slots, out, &rc);
  return index != MPI_UNDEFINED ? gatheredAt_[index] : -2;
}

// MPI_Testany over the gathered requests, made with MPI_Testsome: Open MPI 4.1's Testany reports a
// persistent request that failed (a truncated receive) as a success, its status without the error. The
// first request the call completed is completed into out and its index returned (MPI_UNDEFINED when
// none, *rc then the call's error); any others it completed become matched records, reported later.
int Engine::TestAnyGathered(const int32_t* slots, double* out, int* rc) {
  statuses_.resize(gathered_.size());
  ClearErrors(statuses_.data(), statuses_.size());
  indices_.resize(gathered_.size());
  int outcount = 0;
  *rc = MPI_Testsome(static_cast<int>(gathered_.size()), gathered_.data(), &outcount, indices_.data(), statuses_.data());
  if (outcount == MPI_UNDEFINED || outcount == 0) return MPI_UNDEFINED;
  for (int q = 1; q < outcount; ++q) {
    KeepMatched(slots[gatheredAt_[indices_[q]]], statuses_[q], ErrorOf(statuses_[q], *rc));
  }
  const int first = indices_[0];
  COMPLETE_GATHERED(first, statuses_[0], ErrorOf(statuses_[0], *rc));
  return first;
}

void Engine::AddMatched(const Matched& m) {
  slots_[m.slot].kind = SlotKind::kMatched;
  slots_[m.slot].index = static_cast<uint32_t>(matched_.size());
  matched_.push_back(m);
}

void Engine::KeepMatched(int slot, const MPI_Status& st, int rc) {
  SlotInfo& s = slots_[slot];
  Matched m{slot, {}};
  FillStatus(st, rc, s.isRecv, s.cancelAsked, m.rec);
  EndActivation(slot, rc);
  RemoveRequestAt(s.index);
  AddMatched(m);
  poller_.Arm();
}

int Engine::WaitSome(const int32_t* slots, int n, int32_t* positions, double* out) {
  for (;;) {
    const int c = TestSome(slots, n, positions, out);
    if (c != 0) return c;
    if (AnyUnposted(slots, n) || AnyBatch(slots, n)) continue;
    // Only requests MPI has: let it wait for them.
    Gather(slots, n);
    statuses_.resize(gathered_.size());
    ClearErrors(statuses_.data(), statuses_.size());
    indices_.resize(gathered_.size());
    int outcount = 0;
    const int rc = MPI_Waitsome(static_cast<int>(gathered_.size()), gathered_.data(), &outcount, indices_.data(),
                                statuses_.data());
    if (outcount == MPI_UNDEFINED) return -1;
    for (int q = 0; q < outcount; ++q) {
      COMPLETE_GATHERED(indices_[q], statuses_[q], ErrorOf(statuses_[q], rc));
      positions[q] = gatheredAt_[indices_[q]];
    }
    if (outcount > 0) return outcount;
  }
}

int Engine::TestSome(const int32_t* slots, int n, int32_t* positions, double* out) {
  if (AnyUnposted(slots, n)) Advance();
  TestBatches(slots, n, false);
  int c = 0;
  for (int k = 0; k < n; ++k) {
    if (Valid(slots[k]) && slots_[slots[k]].kind == SlotKind::kMatched) {
      TakeMatched(slots[k], out + k * kStatusFields);
      positions[c++] = k;
    }
  }
  const bool unposted = AnyUnposted(slots, n) || AnyBatch(slots, n);
  Gather(slots, n);
  if (gathered_.empty()) return c > 0 || unposted ? c : -1;
  statuses_.resize(gathered_.size());
  ClearErrors(statuses_.data(), statuses_.size());
  indices_.resize(gathered_.size());
  int outcount = 0;
  const int rc = MPI_Testsome(static_cast<int>(gathered_.size()), gathered_.data(), &outcount, indices_.data(),
                              statuses_.data());
  if (outcount == MPI_UNDEFINED) outcount = 0;
  for (int q = 0; q < outcount; ++q) {
    COMPLETE_GATHERED(indices_[q], statuses_[q], ErrorOf(statuses_[q], rc));
    positions[c++] = gatheredAt_[indices_[q]];
  }
  return c;
}

bool Engine::TestAll(const int32_t* slots, int n, double* out) {
  if (AnyUnposted(slots, n)) {
    Advance();
    if (AnyUnposted(slots, n)) return false;
  }
  TestBatches(slots, n, false);
  if (AnyBatch(slots, n)) return false;
  Gather(slots, n);
  int flag = 1, rc = MPI_SUCCESS;
  statuses_.resize(gathered_.size());
  ClearErrors(statuses_.data(), statuses_.size());
  if (!gathered_.empty()) rc = MPI_Testall(static_cast<int>(gathered_.size()), gathered_.data(), &flag, statuses_.data());
  if (!flag && rc == MPI_SUCCESS) return false;  // nothing was touched
  // An error with requests still pending (MPICH: MPI_ERR_IN_STATUS, flag false, those requests
  // MPI_ERR_PENDING): not all complete yet. The ones MPI completed are kept as matched records, the
  // pending ones stay with MPI, and a later call reports them all.
  bool pending = false;
  for (size_t k = 0; k < gathered_.size(); ++k) pending = pending || ErrorOf(statuses_[k], rc) == MPI_ERR_PENDING;
  if (pending) {
    for (size_t k = 0; k < gathered_.size(); ++k) {
      const int err = ErrorOf(statuses_[k], rc);
      if (err != MPI_ERR_PENDING) KeepMatched(slots[gatheredAt_[k]], statuses_[k], err);
    }
    return false;
  }
  // Slots that are not pending, and matched ones, before the gathered slots are released.
  for (int k = 0; k < n; ++k) {
    if (!Valid(slots[k])) FillBadSlot(out + k * kStatusFields);
    else if (slots_[slots[k]].kind == SlotKind::kMatched) TakeMatched(slots[k], out + k * kStatusFields);
  }
  for (size_t k = 0; k < gathered_.size(); ++k) {
    COMPLETE_GATHERED(k, statuses_[k], ErrorOf(statuses_[k], rc));
  }
  return true;
}

#undef COMPLETE_GATHERED

// ---- matched messages ----

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

// ---- the poller's sweep ----

int Engine::Sweep() {
  int n = 0;
  // Testsome over windows no larger than the free room in the sink, so a sweep never completes more
  // requests than it can report.
  done_.clear();
  size_t off = 0;
  while (off < reqs_.size() && n < capacity_) {
    const int window = static_cast<int>(std::min<size_t>(reqs_.size() - off, capacity_ - n));
    statuses_.resize(window);
    ClearErrors(statuses_.data(), statuses_.size());
    indices_.resize(window);
    int outcount = 0;
    int rc = MPI_Testsome(window, &reqs_[off], &outcount, indices_.data(), statuses_.data());
    if (outcount == MPI_UNDEFINED) outcount = 0;
    for (int k = 0; k < outcount; ++k) {
      const size_t i = off + indices_[k];
      const int slot = reqSlots_[i];
      const int err = ErrorOf(statuses_[k], rc);
      doneSlots_[n] = slot;
      FillStatus(statuses_[k], err, slots_[slot].isRecv, slots_[slot].cancelAsked, doneStatus_ + n * kStatusFields);
      EndActivation(slot, err);
      done_.push_back(static_cast<uint32_t>(i));
      ++n;
    }
    off += window;
  }
  // Completed entries go (a persistent one stays allocated, inactive): highest first, so that each
  // swap-remove moves an entry that is not itself to be removed.
  std::sort(done_.begin(), done_.end(), std::greater<uint32_t>());
  for (uint32_t i : done_) {
    FreeSlot(reqSlots_[i]);
    RemoveRequestAt(i);
  }
  for (size_t i = 0; i < batches_.size() && n < capacity_;) {
    const int slot = batches_[i].slot;
    if (FinishBatch(slot, false, doneStatus_ + n * kStatusFields)) {
      doneSlots_[n++] = slot;  // batches_[i] is now another batch (or none)
    } else {
      ++i;
    }
  }
  if (!unposted_.empty()) Advance();
  size_t taken = 0;
  for (; taken < matched_.size() && n < capacity_; ++taken, ++n) {
    doneSlots_[n] = matched_[taken].slot;
    std::memcpy(doneStatus_ + n * kStatusFields, matched_[taken].rec, sizeof matched_[taken].rec);
    FreeSlot(matched_[taken].slot);
  }
  if (taken > 0) {
    matched_.erase(matched_.begin(), matched_.begin() + static_cast<std::ptrdiff_t>(taken));
    for (size_t j = 0; j < matched_.size(); ++j) slots_[matched_[j].slot].index = static_cast<uint32_t>(j);
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
    }
    // A batch's receives too: MPI must not write into this environment's memory once it is gone.
    for (Batch& b : batches_) {
      for (size_t k = 0; k < b.handles.size(); ++k) {
        if (!persist_[b.ids[k]].isRecv) continue;
        MPI_Cancel(&b.handles[k]);
        MPI_Wait(&b.handles[k], MPI_STATUS_IGNORE);
      }
    }
  }
  ProcessState::Get().Uncount(&live_, mpiUsable);
  reqs_.clear();
  batches_.clear();
  unposted_.clear();
  matched_.clear();
  poller_.Close([](void* self) { delete static_cast<Engine*>(self); }, this);
}

}  // namespace mpi4node
