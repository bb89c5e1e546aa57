// Device memory over MPI, and the chunked Promise copies.
//
// When MPI is CUDA-aware the device pointer goes to MPI as it is. Otherwise (Debian's OpenMPI, for one)
// a message is staged through pinned host chunks, two per transfer, pipelined: the sender copies
// chunk i+1 to the host while chunk i is on the wire, and the receiver receives chunk i+1 while chunk
// i is copied to the device. A 32-byte header goes first, posted by the call itself on the user's
// communicator and tag, so matching, ANY_SOURCE/ANY_TAG and the order of messages are MPI's own (the
// receiver takes it with a matched probe, in posting order). It gives the total size, the chunk size
// and the tag of the chunks, which follow on the communicator's private duplicate with a tag from a
// range reserved for this (below the channels' TAG_BASE, lib/channel/channel.ts), so no other receive can take
// them. A host array sent to a DeviceBuffer arrives as one message without a header: raw bytes. A host
// array may receive a staged message too: lib/comm/staged.ts recognises the header (a message of
// exactly 32 bytes that checks out) and receives the chunks into the array. A message too short to hold
// a header (under 32 bytes) is copied to host memory by the call itself and sent as it is.
#include <atomic>
#include <cstring>

#include "addon.h"
#include "core/args.h"
#include "core/exports.h"
#include "core/buffers.h"
#include "core/errors.h"
#include "gpu/env.h"

namespace mpi4node {

namespace {

constexpr int kStageTagBase = 2048;  // [2048, 4096) on the private duplicate
constexpr int kStageTags = 2048;
constexpr uint32_t kMagic = 0x444e344d;  // "M4ND"
constexpr uint16_t kHeaderVersion = 2;
// The check words: a 32-byte host message is taken for a header only if they match (lib/comm/staged.ts).
constexpr uint32_t kCheck0 = 0x9e3779b9, kCheck1 = 0x7f4a7c15;

// Little-endian on the wire (x86-64 and aarch64 both are); lib/comm/staged.ts reads it with a DataView.
struct StageHeader {
  uint32_t magic;
  uint16_t version;
  uint16_t flags;
  uint32_t chunk;
  uint32_t tag;
  uint64_t total;
  uint32_t check0;  // low word of total ^ tag ^ kCheck0
  uint32_t check1;  // high word of total ^ chunk ^ kCheck1
};

StageHeader MakeHeader(size_t chunk, int tag, size_t total) {
  const uint64_t t = total;
  return StageHeader{kMagic, kHeaderVersion, 0, static_cast<uint32_t>(chunk), static_cast<uint32_t>(tag), t,
                     static_cast<uint32_t>(t) ^ static_cast<uint32_t>(tag) ^ kCheck0,
                     static_cast<uint32_t>(t >> 32) ^ static_cast<uint32_t>(chunk) ^ kCheck1};
}

bool IsHeader(const StageHeader& h) {
  const StageHeader want = MakeHeader(h.chunk, static_cast<int>(h.tag), h.total);
  return h.magic == kMagic && h.version == kHeaderVersion && h.chunk != 0 && std::memcmp(&h, &want, sizeof h) == 0;
}
constexpr size_t kHeader = sizeof(StageHeader);
static_assert(kHeader == 32, "the staging header is 32 bytes on the wire");

std::atomic<uint32_t> nextTransfer{0};

size_t ChunkLen(size_t total, size_t chunk, size_t k) {
  const size_t start = k * chunk;
  return start >= total ? 0 : std::min(chunk, total - start);
}

enum class Phase { kFree, kCopying, kMpi };

struct Slot {
  Pinned p;
  Phase phase = Phase::kFree;
  size_t chunk = 0;
  EventRef ev;
  MPI_Request req = MPI_REQUEST_NULL;
};

// Returns true when the event is done; a failure goes to err (and also counts as done).
bool EventDone(GpuEnv& g, const EventRef& ev, GpuErr* err) {
  const cudaError_t q = g.cuda().EventQuery(ev->e);
  if (q == cudaSuccess) return true;
  if (q == cudaErrorNotReady) return false;
  g.cuda().GetLastError();
  *err = GpuErr::Cuda(q);
  return true;
}

bool MpiDone(MPI_Request* req, GpuErr* err, MPI_Status* st = nullptr) {
  int flag = 0;
  MPI_Status local;
  const int rc = MPI_Test(req, &flag, st ? st : &local);
  if (rc != MPI_SUCCESS) {
    *err = {kGpuMpi, rc};
    return true;
  }
  return flag != 0;
}

// The slot of chunk `next` (slot next % 2) when the pipeline may start that chunk: there is one and its
// slot is free. Its pinned chunk of `chunk` bytes is taken on first use; `err` says when none could be.
Slot* NextSlot(GpuEnv& g, Slot* slots, size_t next, size_t chunks, size_t chunk, GpuErr* err) {
  if (next >= chunks || slots[next % 2].phase != Phase::kFree) return nullptr;
  Slot& s = slots[next % 2];
  if (s.p.ptr == nullptr) s.p = g.TakePinned(chunk, err);
  return &s;
}

// After a chunk's copy was enqueued on `stream` of `device` (rc): the slot waits for an event recorded
// behind it. False, with `err` set, when either failed.
bool Copying(GpuEnv& g, Slot& s, cudaError_t rc, cudaStream_t stream, int device, GpuErr* err) {
  if (rc != cudaSuccess) {
    *err = GpuErr::Cuda(rc);
    return false;
  }
  s.ev = g.Record(stream, device, err);
  if (!err->ok()) return false;
  s.phase = Phase::kCopying;
  return true;
}

// The copy stream of m's device, made to wait (on the device, no host wait) for the last stream work
// on m. Done when a transfer is posted, so that it follows exactly the work issued before it, whatever
// is issued after it in the same tick.
GpuErr StartOn(GpuEnv& g, DeviceMem& m, cudaStream_t* stream) {
  DeviceGuard guard(g.cuda(), m.device);
  GpuErr err;
  *stream = g.CopyStream(m.device, &err);
  if (!err.ok()) return err;
  const cudaError_t rc = g.After(*stream, m);
  return rc == cudaSuccess ? GpuErr() : GpuErr::Cuda(rc);
}

// Releases slots once nothing can still use them. A pending receive is cancelled (always possible
// locally); a pending send is let go to finish in the background, and its chunk with it (never
// reused: MPI may still be reading it).
void ReleaseSlots(GpuEnv& g, Slot* slots, int n, cudaStream_t stream, bool mpiUsable, bool sends) {
  bool busy = false;
  for (int i = 0; i < n; ++i) {
    Slot& s = slots[i];
    if (s.req != MPI_REQUEST_NULL && mpiUsable) {
      int flag = 0;
      MPI_Test(&s.req, &flag, MPI_STATUS_IGNORE);
      if (!flag && sends) {
        MPI_Request_free(&s.req);
        s.p = Pinned();
      } else if (!flag) {
        MPI_Cancel(&s.req);
        MPI_Wait(&s.req, MPI_STATUS_IGNORE);
      }
    }
    busy = busy || s.phase == Phase::kCopying;
  }
  if (busy && stream != nullptr) g.cuda().StreamSynchronize(stream);
  for (int i = 0; i < n; ++i) {
    g.GivePinned(slots[i].p);
    slots[i] = Slot();
  }
}

// ---- chunked host <-> device copies for the Promise API ----

class HostCopy : public Transfer {
 public:
  HostCopy(int mem, size_t offset, void* host, size_t bytes, bool toDevice, size_t chunk)
      : mem_(mem), offset_(offset), host_(static_cast<char*>(host)), bytes_(bytes), toDevice_(toDevice),
        chunk_(std::min(chunk, std::max<size_t>(bytes, 1))), chunks_(bytes == 0 ? 0 : (bytes + chunk_ - 1) / chunk_) {}

  bool usesMpi() const override { return false; }

  GpuErr Start(GpuEnv& g) { return StartOn(g, g.mems()[mem_], &stream_); }

  bool Step(GpuEnv& g, GpuErr* err, double* rec) override {
    DeviceMem& m = g.mems()[mem_];
    DeviceGuard guard(g.cuda(), m.device);
    for (Slot& s : slots_) {
      if (s.phase != Phase::kCopying) continue;
      GpuErr e;
      if (!EventDone(g, s.ev, &e)) continue;
      if (!e.ok()) return Fail(g, e, err);
      if (!toDevice_) std::memcpy(host_ + s.chunk * chunk_, s.p.ptr, ChunkLen(bytes_, chunk_, s.chunk));
      s.ev.reset();
      s.phase = Phase::kFree;
      ++done_;
    }
    while (Slot* s = NextSlot(g, slots_, next_, chunks_, chunk_, err)) {
      if (!err->ok()) return Fail(g, *err, err);
      const size_t len = ChunkLen(bytes_, chunk_, next_);
      char* dev = static_cast<char*>(m.ptr) + offset_ + next_ * chunk_;
      cudaError_t rc;
      if (toDevice_) {
        std::memcpy(s->p.ptr, host_ + next_ * chunk_, len);
        rc = g.cuda().MemcpyAsync(dev, s->p.ptr, len, cudaMemcpyHostToDevice, stream_);
      } else {
        rc = g.cuda().MemcpyAsync(s->p.ptr, dev, len, cudaMemcpyDeviceToHost, stream_);
      }
      if (!Copying(g, *s, rc, stream_, m.device, err)) return Fail(g, *err, err);
      s->chunk = next_++;
    }
    if (done_ < chunks_) return false;
    ReleaseSlots(g, slots_, 2, nullptr, false, false);
    rec[kGdBytes] = static_cast<double>(bytes_);
    return true;
  }

  void Abandon(GpuEnv& g) override { ReleaseSlots(g, slots_, 2, stream_, false, false); }

 private:
  int mem_;
  size_t offset_;
  char* host_;
  size_t bytes_;
  bool toDevice_;
  size_t chunk_, chunks_;
  size_t next_ = 0, done_ = 0;
  cudaStream_t stream_ = nullptr;
  Slot slots_[2];
};

// ---- staged send ----

class StagedSend : public Transfer {
 public:
  StagedSend(int mem, size_t offset, size_t bytes, int dest, size_t chunk, MPI_Comm internal)
      : mem_(mem), offset_(offset), bytes_(bytes), dest_(dest), internal_(internal), chunk_(chunk),
        chunks_(bytes == 0 ? 0 : (bytes + chunk - 1) / chunk),
        xferTag_(kStageTagBase + static_cast<int>(nextTransfer.fetch_add(1) % kStageTags)) {
    header_ = MakeHeader(chunk_, xferTag_, bytes_);
  }

  // Posted by the call itself, so device messages leave in the order they were sent.
  int PostHeader(int tag, MPI_Comm comm) {
    if (dest_ == MPI_PROC_NULL) return MPI_SUCCESS;
    return MPI_Isend(&header_, static_cast<int>(kHeader), MPI_BYTE, dest_, tag, comm, &headerReq_);
  }

  bool usesMpi() const override { return true; }

  GpuErr Start(GpuEnv& g) { return StartOn(g, g.mems()[mem_], &stream_); }

  bool Step(GpuEnv& g, GpuErr* err, double* rec) override {
    if (!ProcessState::Get().CallerMayUseMpi()) return Fail(g, {kGpuMpi, kErrNotInitialized}, err);
    if (dest_ == MPI_PROC_NULL) return Finish(g, rec);
    GpuErr e;
    if (headerReq_ != MPI_REQUEST_NULL && MpiDone(&headerReq_, &e) && !e.ok()) return Fail(g, e, err);
    DeviceMem& m = g.mems()[mem_];
    DeviceGuard guard(g.cuda(), m.device);
    for (int pass = 0; pass < 2; ++pass) {
      // Chunk k lives in slot k % 2; sends go out strictly in chunk order (MPI keeps the order of
      // messages with one tag, and the receiver posts its receives in that order).
      for (int i = 0; i < 2; ++i) {
        Slot& s = slots_[(sent_ + i) % 2];
        if (s.phase == Phase::kCopying && s.chunk == sent_ && EventDone(g, s.ev, &e)) {
          if (!e.ok()) return Fail(g, e, err);
          s.ev.reset();
          const int len = static_cast<int>(ChunkLen(bytes_, chunk_, s.chunk));
          const int rc = MPI_Isend(s.p.ptr, len, MPI_BYTE, dest_, xferTag_, internal_, &s.req);
          if (rc != MPI_SUCCESS) return Fail(g, {kGpuMpi, rc}, err);
          s.phase = Phase::kMpi;
          ++sent_;
        }
        if (s.phase == Phase::kMpi && MpiDone(&s.req, &e)) {
          if (!e.ok()) return Fail(g, e, err);
          s.phase = Phase::kFree;
          ++done_;
        }
      }
      // Start the next copies now, so they overlap the sends just posted.
      while (Slot* s = NextSlot(g, slots_, next_, chunks_, chunk_, err)) {
        if (!err->ok()) return Fail(g, *err, err);
        const char* dev = static_cast<const char*>(m.ptr) + offset_ + next_ * chunk_;
        const cudaError_t rc =
            g.cuda().MemcpyAsync(s->p.ptr, dev, ChunkLen(bytes_, chunk_, next_), cudaMemcpyDeviceToHost, stream_);
        if (!Copying(g, *s, rc, stream_, m.device, err)) return Fail(g, *err, err);
        s->chunk = next_++;
      }
    }
    if (done_ < chunks_ || headerReq_ != MPI_REQUEST_NULL) return false;
    return Finish(g, rec);
  }

  void Abandon(GpuEnv& g) override {
    const bool usable = ProcessState::Get().CallerMayUseMpi();
    if (headerReq_ != MPI_REQUEST_NULL && usable) MPI_Request_free(&headerReq_);
    ReleaseSlots(g, slots_, 2, stream_, usable, true);
  }

 private:
  bool Finish(GpuEnv& g, double* rec) {
    ReleaseSlots(g, slots_, 2, nullptr, false, true);
    rec[kGdSource] = dest_;
    rec[kGdBytes] = static_cast<double>(bytes_);
    return true;
  }

  PendingMpi pending_;
  int mem_;
  size_t offset_, bytes_;
  int dest_;
  MPI_Comm internal_;
  size_t chunk_, chunks_;
  int xferTag_;
  StageHeader header_;
  MPI_Request headerReq_ = MPI_REQUEST_NULL;
  size_t next_ = 0, sent_ = 0, done_ = 0;
  cudaStream_t stream_ = nullptr;
  Slot slots_[2];
};

// ---- staged receive ----

class StagedRecv : public Transfer {
 public:
  StagedRecv(int mem, size_t offset, size_t capacity, int source, int tag, MPI_Comm comm, MPI_Comm internal)
      : mem_(mem), offset_(offset), capacity_(capacity), source_(source), tag_(tag), comm_(comm),
        internal_(internal) {}

  bool usesMpi() const override { return true; }

  GpuErr Start(GpuEnv& g) { return StartOn(g, g.mems()[mem_], &stream_); }

  bool Probing() const override { return state_ == kProbing && matchErr_.ok() && source_ != MPI_PROC_NULL; }

  bool Probe(MPI_Message* msg, MPI_Status* st) override {
    if (!ProcessState::Get().CallerMayUseMpi()) return false;
    int flag = 0;
    const int rc = MPI_Improbe(source_, tag_, comm_, &flag, msg, st);
    if (rc != MPI_SUCCESS) matchErr_ = {kGpuMpi, rc};
    return rc == MPI_SUCCESS && flag != 0;
  }

  MPI_Comm probeComm() const override { return comm_; }

  bool Accepts(MPI_Comm comm, const MPI_Status& st) const override {
    return comm == comm_ && (source_ == MPI_ANY_SOURCE || source_ == st.MPI_SOURCE) &&
           (tag_ == MPI_ANY_TAG || tag_ == st.MPI_TAG);
  }

  // Takes a matched first message: a staged header into header_, anything else whole into pinned memory.
  void Accept(GpuEnv& g, MPI_Message msg, const MPI_Status& st) override {
    int count = 0;
    MPI_Get_count(&st, MPI_BYTE, &count);
    firstBytes_ = static_cast<size_t>(count);
    src_ = st.MPI_SOURCE;
    matchedTag_ = st.MPI_TAG;
    state_ = kFirst;
    void* into = &header_;
    if (firstBytes_ != kHeader) {
      GpuErr e;
      first_.p = g.TakePinned(std::max<size_t>(firstBytes_, 1), &e);
      if (!e.ok()) {
        char scratch;
        MPI_Mrecv(&scratch, 0, MPI_BYTE, &msg, MPI_STATUS_IGNORE);  // let go of it, not leave it queued
        matchErr_ = e;
        return;
      }
      into = first_.p.ptr;
    }
    const int rc = MPI_Imrecv(into, count, MPI_BYTE, &msg, &first_.req);
    if (rc != MPI_SUCCESS) {
      matchErr_ = {kGpuMpi, rc};
      return;
    }
    first_.phase = Phase::kMpi;
  }

  bool Step(GpuEnv& g, GpuErr* err, double* rec) override {
    if (!ProcessState::Get().CallerMayUseMpi()) return Fail(g, {kGpuMpi, kErrNotInitialized}, err);
    if (source_ == MPI_PROC_NULL) {
      rec[kGdSource] = MPI_PROC_NULL;
      rec[kGdTag] = MPI_ANY_TAG;
      return true;
    }
    // Matching happens in posting order across all receives (GpuEnv::MatchAll), never here.
    if (!matchErr_.ok()) return Fail(g, matchErr_, err);
    if (state_ == kProbing) return false;
    DeviceMem& m = g.mems()[mem_];
    DeviceGuard guard(g.cuda(), m.device);
    GpuErr e;
    if (state_ == kFirst) {
      if (!MpiDone(&first_.req, &e)) return false;
      if (!e.ok()) return Fail(g, e, err);
      first_.phase = Phase::kFree;
      if (!Begin(g, m, &e)) return Fail(g, e, err);
    }
    if (first_.phase == Phase::kCopying && EventDone(g, first_.ev, &e)) {
      if (!e.ok()) return Fail(g, e, err);
      first_.ev.reset();
      first_.phase = Phase::kFree;
    }
    for (int pass = 0; pass < 2; ++pass) {
      for (Slot& s : slots_) {
        if (s.phase == Phase::kMpi && MpiDone(&s.req, &e)) {
          if (!e.ok()) return Fail(g, e, err);
          const size_t len = ChunkLen(total_, chunk_, s.chunk);
          if (truncated_ || len == 0) {
            s.phase = Phase::kFree;
            ++done_;
            continue;
          }
          char* dev = static_cast<char*>(m.ptr) + offset_ + s.chunk * chunk_;
          const cudaError_t rc = g.cuda().MemcpyAsync(dev, s.p.ptr, len, cudaMemcpyHostToDevice, stream_);
          if (!Copying(g, s, rc, stream_, m.device, err)) return Fail(g, *err, err);
        }
        if (s.phase == Phase::kCopying && EventDone(g, s.ev, &e)) {
          if (!e.ok()) return Fail(g, e, err);
          s.ev.reset();
          s.phase = Phase::kFree;
          ++done_;
        }
      }
      // Post the next receives now, so they overlap the copies just started.
      while (Slot* s = NextSlot(g, slots_, next_, chunks_, chunk_, err)) {
        if (!err->ok()) return Fail(g, *err, err);
        const int rc = MPI_Irecv(s->p.ptr, static_cast<int>(ChunkLen(total_, chunk_, next_)), MPI_BYTE, src_,
                                 xferTag_, internal_, &s->req);
        if (rc != MPI_SUCCESS) return Fail(g, {kGpuMpi, rc}, err);
        s->phase = Phase::kMpi;
        s->chunk = next_++;
      }
    }
    if (first_.phase != Phase::kFree || done_ < chunks_) return false;
    ReleaseSlots(g, slots_, 2, nullptr, false, false);
    g.GivePinned(first_.p);
    first_ = Slot();
    rec[kGdSource] = src_;
    rec[kGdTag] = matchedTag_;
    rec[kGdBytes] = static_cast<double>(truncated_ ? capacity_ : total_);
    if (truncated_) *err = {kGpuMpi, MPI_ERR_TRUNCATE};
    return true;
  }

  void Abandon(GpuEnv& g) override {
    const bool usable = ProcessState::Get().CallerMayUseMpi();
    ReleaseSlots(g, slots_, 2, stream_, usable, false);
    ReleaseSlots(g, &first_, 1, stream_, usable, false);
  }

 private:
  enum State { kProbing, kFirst, kPipeline };

  // The first message is in: a staged header (the chunks follow on the private duplicate), or a plain
  // message whose bytes are the payload.
  bool Begin(GpuEnv& g, DeviceMem& m, GpuErr* err) {
    state_ = kPipeline;
    const void* raw = first_.p.ptr;
    if (raw == nullptr && !IsHeader(header_)) raw = &header_;  // a plain 32-byte message
    if (raw == nullptr) {
      total_ = header_.total;
      chunk_ = header_.chunk;
      xferTag_ = static_cast<int>(header_.tag);
      chunks_ = total_ == 0 ? 0 : (total_ + chunk_ - 1) / chunk_;
      truncated_ = total_ > capacity_;
      return true;
    }
    total_ = firstBytes_;
    chunks_ = 0;
    truncated_ = total_ > capacity_;
    if (truncated_ || total_ == 0) return true;
    const cudaError_t rc =
        g.cuda().MemcpyAsync(static_cast<char*>(m.ptr) + offset_, raw, total_, cudaMemcpyHostToDevice, stream_);
    return Copying(g, first_, rc, stream_, m.device, err);
  }

  PendingMpi pending_;
  int mem_;
  size_t offset_, capacity_;
  int source_, tag_;
  MPI_Comm comm_, internal_;
  State state_ = kProbing;
  GpuErr matchErr_;
  StageHeader header_{};
  size_t firstBytes_ = 0, total_ = 0, chunk_ = 1, chunks_ = 0;
  int src_ = MPI_PROC_NULL, matchedTag_ = 0, xferTag_ = 0;
  bool truncated_ = false;
  size_t next_ = 0, done_ = 0;
  cudaStream_t stream_ = nullptr;
  Slot first_;
  Slot slots_[2];
};

// ---- CUDA-aware MPI: the device pointer goes to MPI ----

// Posted by the call itself (so MPI sees operations in the order they were made), after the last
// stream work on the buffer has finished: MPI reads or writes the memory directly.
class DirectTransfer : public Transfer {
 public:
  DirectTransfer(bool isSend, int peer, int tag, size_t bytes) : isSend_(isSend), peer_(peer), tag_(tag), bytes_(bytes) {}

  GpuErr Post(GpuEnv& g, DeviceMem& m, size_t offset, MPI_Comm comm) {
    if (m.last) {
      cudaError_t rc = g.cuda().EventSynchronize(m.last->e);
      if (rc != cudaSuccess) return GpuErr::Cuda(rc);
    }
    CountedType ct(bytes_, MPI_BYTE);
    int rc = ct.rc();
    char* dev = static_cast<char*>(m.ptr) + offset;
    if (rc == MPI_SUCCESS) {
      rc = isSend_ ? MPI_Isend(dev, ct.count(), ct.type(), peer_, tag_, comm, &req_)
                   : MPI_Irecv(dev, ct.count(), ct.type(), peer_, tag_, comm, &req_);
    }
    return rc == MPI_SUCCESS ? GpuErr() : GpuErr{kGpuMpi, rc};
  }

  bool usesMpi() const override { return true; }

  bool Step(GpuEnv& g, GpuErr* err, double* rec) override {
    if (!ProcessState::Get().CallerMayUseMpi()) {
      *err = {kGpuMpi, kErrNotInitialized};
      return true;
    }
    MPI_Status st;
    if (!MpiDone(&req_, err, &st)) return false;
    if (!err->ok()) return true;
    if (isSend_) {
      rec[kGdSource] = peer_;
      rec[kGdBytes] = static_cast<double>(bytes_);
      return true;
    }
    if (peer_ == MPI_PROC_NULL) {  // MPI's empty status (MPICH 4.0.2 reports source 0 for an Irecv from PROC_NULL)
      rec[kGdSource] = MPI_PROC_NULL;
      rec[kGdTag] = MPI_ANY_TAG;
      rec[kGdBytes] = 0;
      return true;
    }
    MPI_Count n = 0;
    MPI_Get_elements_x(&st, MPI_BYTE, &n);
    rec[kGdSource] = st.MPI_SOURCE;
    rec[kGdTag] = st.MPI_TAG;
    rec[kGdBytes] = n == MPI_UNDEFINED ? 0 : static_cast<double>(n);
    return true;
  }

  void Abandon(GpuEnv& g) override {
    if (req_ == MPI_REQUEST_NULL || !ProcessState::Get().CallerMayUseMpi()) return;
    if (isSend_) {
      MPI_Request_free(&req_);
    } else {
      MPI_Cancel(&req_);
      MPI_Wait(&req_, MPI_STATUS_IGNORE);
    }
  }

 private:
  PendingMpi pending_;
  bool isSend_;
  int peer_, tag_;
  size_t bytes_;
  MPI_Request req_ = MPI_REQUEST_NULL;
};

// ---- a message too short for a header: copied to the host by the call, sent as it is ----

class PlainSend : public Transfer {
 public:
  PlainSend(size_t bytes, int dest) : data_(bytes), dest_(dest) {}

  // After the last stream work on m, copies the bytes out (blocking: under 32 bytes) and posts them.
  GpuErr Post(GpuEnv& g, DeviceMem& m, size_t offset, int tag, MPI_Comm comm) {
    if (dest_ == MPI_PROC_NULL) return GpuErr();
    if (!data_.empty()) {
      cudaStream_t s = nullptr;
      GpuErr e = StartOn(g, m, &s);
      if (!e.ok()) return e;
      DeviceGuard guard(g.cuda(), m.device);
      cudaError_t rc = g.cuda().MemcpyAsync(data_.data(), static_cast<char*>(m.ptr) + offset, data_.size(),
                                            cudaMemcpyDeviceToHost, s);
      if (rc == cudaSuccess) rc = g.cuda().StreamSynchronize(s);
      if (rc != cudaSuccess) return GpuErr::Cuda(rc);
    }
    const int rc = MPI_Isend(data_.data(), static_cast<int>(data_.size()), MPI_BYTE, dest_, tag, comm, &req_);
    return rc == MPI_SUCCESS ? GpuErr() : GpuErr{kGpuMpi, rc};
  }

  bool usesMpi() const override { return true; }

  bool Step(GpuEnv& g, GpuErr* err, double* rec) override {
    if (!ProcessState::Get().CallerMayUseMpi()) return Fail(g, {kGpuMpi, kErrNotInitialized}, err);
    if (req_ != MPI_REQUEST_NULL && !MpiDone(&req_, err)) return false;
    if (!err->ok()) return true;
    rec[kGdSource] = dest_;
    rec[kGdBytes] = static_cast<double>(data_.size());
    return true;
  }

  void Abandon(GpuEnv& g) override {
    // The bytes go with the request (MPI may still read them): never freed under it.
    if (req_ != MPI_REQUEST_NULL && ProcessState::Get().CallerMayUseMpi()) {
      MPI_Request_free(&req_);
      new std::vector<char>(std::move(data_));
    }
  }

 private:
  PendingMpi pending_;
  std::vector<char> data_;
  int dest_;
  MPI_Request req_ = MPI_REQUEST_NULL;
};

}  // namespace

std::unique_ptr<Transfer> MakeHostCopy(GpuEnv& g, int mem, size_t offset, void* host, size_t bytes, bool toDevice,
                                       size_t chunk, GpuErr* err) {
  auto t = std::make_unique<HostCopy>(mem, offset, host, bytes, toDevice, chunk);
  *err = t->Start(g);
  return t;
}

// isend(handle, byteOffset, bytes, dest, tag, comm, internal, chunkBytes, cudaAware) -> op id
Napi::Value GpuEnv::Isend(const Napi::CallbackInfo& info) { return PostMessage(Args(addon_, info, Args::kNoMpi), true); }

// irecv(handle, byteOffset, capacity, source, tag, comm, internal, cudaAware) -> op id
Napi::Value GpuEnv::Irecv(const Napi::CallbackInfo& info) { return PostMessage(Args(addon_, info, Args::kNoMpi), false); }

Napi::Value GpuEnv::PostMessage(const Args& a, bool isSend) {
  Napi::Env env = a.env();
  RequireCuda(env);
  a.RequireMpi();
  DeviceMem& m = Mem(env, a.Int(0));
  const int h = static_cast<int>(&m - mems_.data());
  const size_t offset = a.Size(1), bytes = a.Size(2);  // a receive's capacity
  CheckRange(env, m, offset, bytes);
  const int peer = a.Int(3), tag = a.Int(4);
  MPI_Comm comm = a.Comm(5);
  MPI_Comm internal = a.Comm(6);
  const size_t chunk = isSend ? std::max<size_t>(a.Size(7), 1) : 0;
  GpuOp op;
  if (a.Flag(isSend ? 8 : 7)) {
    auto t = std::make_unique<DirectTransfer>(isSend, peer, tag, bytes);
    GpuErr e = t->Post(*this, m, offset, comm);
    if (!e.ok()) Throw(env, e);
    op.xfer = std::move(t);
  } else if (isSend && bytes < kHeader) {
    auto t = std::make_unique<PlainSend>(bytes, peer);
    GpuErr e = t->Post(*this, m, offset, tag, comm);
    if (!e.ok()) Throw(env, e);
    op.xfer = std::move(t);
  } else if (isSend) {
    auto t = std::make_unique<StagedSend>(h, offset, bytes, peer, chunk, internal);
    GpuErr e = t->Start(*this);
    if (!e.ok()) Throw(env, e);
    a.Check(t->PostHeader(tag, comm));
    op.xfer = std::move(t);
  } else {
    auto t = std::make_unique<StagedRecv>(h, offset, bytes, peer, tag, comm, internal);
    GpuErr e = t->Start(*this);
    if (!e.ok()) Throw(env, e);
    op.xfer = std::move(t);
  }
  const int id = AddOp(std::move(op));
  // A message already here is taken now, by the earliest receive that matches it.
  if (!isSend) MatchAll();
  return Napi::Number::New(env, id);
}

void GpuEnv::DefineStaging(Napi::Env env, Napi::Object gpu) {
  static const Export table[] = {
      {"isend", Method<&GpuEnv::Isend>},
      {"irecv", Method<&GpuEnv::Irecv>},
  };
  DefineExports(env, gpu, this, table);
}

}  // namespace mpi4node
