// Progress engine: completes nonblocking MPI requests without ever blocking the event loop.
//
// Why this design (figures measured on the development machine; bench/ re-measures what they add up to):
// - A progress thread that waits in MPI and wakes the loop costs ~9 us per message, needs
//   MPI_THREAD_MULTIPLE (+15% on every call) and a core we do not have. Rejected.
// - Polling once per loop iteration costs ~5 us per message: one epoll trip is ~2.9 us here.
// - So: a posting call first spins on MPI_Test for up to kPostSpinNs when nothing else is pending
//   (a reply that arrives within that window completes with no loop trip: ~2x C); otherwise the request
//   joins a table that the poller (poller.h) sweeps with MPI_Testsome and MPI_Improbe, spinning within
//   a loop iteration and backing off to a timer while nothing progresses. All completions of one sweep
//   reach JavaScript in one callback.
#pragma once

#include <mpi.h>
#include <napi.h>
#include <uv.h>

#include <cstdint>
#include <vector>

#include "progress/poller.h"

namespace mpi4node {

// Layout of one status record shared with lib/core/request.ts.
enum StatusField { kSource = 0, kTag, kError, kBytes, kCancelled, kMessage, kStatusFields };

enum class SlotKind : uint8_t { kFree, kRequest, kProbe };

// Writes one status record. Send statuses carry only the error and the cancelled flag.
void FillStatus(const MPI_Status& st, int rc, bool isRecv, double* out);

class Engine final : Poller::Source {
 public:
  static constexpr uint64_t kPostSpinNs = 20'000;
  static constexpr unsigned kTestsPerClockRead = 8;

  Engine(napi_env env, uv_loop_t* loop);

  void SetSink(Napi::Function onComplete, int32_t* doneSlots, double* doneStatus, int capacity);

  // Takes a request just posted. Returns -1 when it completed within the spin (status written), else
  // the slot that identifies it until completion.
  int Track(MPI_Request req, bool isRecv, double* status);
  // A receive of unknown size: waits for a matching message with MPI_Improbe. Completion reports the
  // matched message (kMessage) and its size; the caller then receives it with Imrecv.
  int TrackProbe(int source, int tag, MPI_Comm comm, double* status);

  int Wait(int slot, double* status);                // blocking; returns MPI_SUCCESS or error code
  int Test(int slot, bool* done, double* status);    // never blocks
  int Cancel(int slot);

  MPI_Message TakeMessage(int id);
  int PutMessage(MPI_Message m);

  int64_t pending() const { return static_cast<int64_t>(reqs_.size() + probes_.size()); }
  void Shutdown(bool mpiUsable);  // cancels what it can, closes the uv handles, deletes this

 private:
  struct Probe {
    int source, tag;
    MPI_Comm comm;
    int slot;
    bool cancelled;
  };
  struct SlotInfo {
    SlotKind kind = SlotKind::kFree;
    bool isRecv = false;
    uint32_t index = 0;  // position in reqs_ or probes_
  };

  int NewSlot(SlotKind kind, bool isRecv, uint32_t index);
  void FreeSlot(int slot);
  void RemoveRequestAt(uint32_t i);
  void RemoveProbeAt(uint32_t i);
  // One look for the probe's message; matched (record written) when it arrived, failed or the probe
  // was cancelled.
  int ProbeOnce(Probe& p, bool* matched, double* out);

  // Poller::Source: one pass of Testsome + Improbe, writing completions to the sink.
  int Sweep() override;
  bool Pending() const override { return pending() > 0; }
  bool MayPoll() const override;

  Poller poller_;

  std::vector<MPI_Request> reqs_;
  std::vector<int32_t> reqSlots_;
  std::vector<MPI_Status> statuses_;
  std::vector<int> indices_;
  std::vector<Probe> probes_;
  std::vector<SlotInfo> slots_;
  std::vector<int32_t> freeSlots_;
  std::vector<MPI_Message> messages_;
  std::vector<int32_t> freeMessages_;

  int32_t* doneSlots_ = nullptr;
  double* doneStatus_ = nullptr;
  int capacity_ = 0;
};

}  // namespace mpi4node
