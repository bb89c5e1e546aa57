// Progress engine: completes nonblocking MPI requests without ever blocking the event loop, and keeps
// MPI's matching order for the receives MPI cannot match itself.
//
// Why this design (figures measured on the development machine; bench/ re-measures what they add up to):
// - A progress thread that waits in MPI and wakes the loop costs ~9 us per message, needs
//   MPI_THREAD_MULTIPLE (+15% on every call) and a core we do not have. Rejected.
// - Polling once per loop iteration costs ~5 us per message: one epoll trip is ~2.9 us here.
// - So: a request joins a table that the poller (poller.h) sweeps with MPI_Testsome and MPI_Improbe,
//   spinning within a loop iteration and backing off to a timer while nothing progresses; all
//   completions of one sweep reach JavaScript in one callback. Before that, once the JavaScript that
//   posted has run to its end (a microtask queued by lib/core/request.ts), Progress() spins for up to
//   kPostSpinNs: a reply that arrives within that window completes with no loop trip (~2x C).
// - The spin waits for the end of the synchronous JavaScript, not for the post: a burst of posts (a
//   window of 64 receives) must reach MPI back to back, or messages arrive before their receives are
//   posted and take MPI's unexpected-message path, with an extra copy. A small send is tested once at post
//   (an eager send is then complete, and its Request settled at once); a receive is not (its message
//   has rarely arrived by then, and a failed test costs ~40 ns).
// - Persistent requests (MPI_Send_init & co.) live in their own table; a batch started with
//   MPI_Startall is one slot, completed with one MPI_Testall/MPI_Waitall (its statuses read for errors,
//   and a receive's kept for Prequest.status), so a window of persistent sends costs one slot, not 64.
//
// Order. A receive of unknown size cannot be posted in MPI (its buffer does not exist before the
// message is seen): it waits for its message with MPI_Improbe. MPI's non-overtaking rule must still
// hold across every kind of receive — messages from one sender on one communicator match receives in
// the order they were posted (MPI-4.1 §3.5). So receives that are not posted in MPI wait in `unposted_`
// in posting order, and an entry there is attempted only when no earlier unposted entry could match
// the same message (same communicator, sources and tags equal or wildcards):
// - a receive of known size whose envelope overlaps an earlier unposted one is deferred there too, and
//   posted with MPI_Irecv as soon as nothing earlier could take its message; a persistent receive's
//   start likewise (MPI_Start then), and a startAll batch completes once its deferred ones have;
// - a receive of unknown size is probed only while nothing earlier overlaps it, so a message can
//   never reach a later probe while an earlier one that would take it is still waiting (or missed it
//   in the same sweep);
// - receives posted in MPI directly (no overlapping unposted one is waiting) are ordered by MPI itself,
//   and MPI matches a posted receive before any later probe sees the message;
// - a blocking receive first completes the matching of every earlier unposted receive that overlaps it
//   (DriveAhead), as MPI_Recv would wait behind an earlier MPI_Irecv.
// Matching an unposted receive does not need JavaScript: the matched message (MPI_Message) is kept
// until its record is delivered, so the order is fixed at match time.
//
// Statuses. Only what MPI defines is read: the cancelled flag only of requests that were asked to
// cancel (MPICH leaves it unset after MPI_Improbe), and probes never have one.
#pragma once

#include <mpi.h>
#include <napi.h>
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/process_state.h"
#include "progress/poller.h"

namespace mpi4node {

// Layout of one status record shared with lib/core/request.ts.
enum StatusField { kSource = 0, kTag, kError, kBytes, kCancelled, kMessage, kStatusFields };

// What a receive matches: MPI's (source, tag, communicator), wildcards included.
struct Envelope {
  int source, tag;
  MPI_Comm comm;
};

// Writes one status record. Send statuses carry only the error and the cancelled flag; `cancelAsked`
// says whether the cancelled flag is MPI's to report (the request was asked to cancel).
void FillStatus(const MPI_Status& st, int rc, bool isRecv, bool cancelAsked, double* out);

class Engine final : Poller::Source {
 public:
  static constexpr uint64_t kPostSpinNs = 20'000;
  static constexpr unsigned kTestsPerClockRead = 8;

  Engine(napi_env env, uv_loop_t* loop);

  void SetSink(Napi::Function onComplete, int32_t* doneSlots, double* doneStatus, int capacity);

  // Takes a request just posted (a send, a collective, a receive posted in MPI). Returns -1 when it
  // completed already (status written), else the slot that identifies it until completion. `test`:
  // test it once now (MPI_Test), for what is likely complete at post: an eager send, a receive of a
  // message that has arrived (MPI_Imrecv of a matched one). A test that fails runs a whole pass of MPI's
  // progress engine (~0.1-0.2 us), so what is rarely complete at post is not tested.
  int Track(MPI_Request req, bool isRecv, double* status, bool test);
  // Sends up to this many bytes are tested at post (isend, fast and general): Open MPI's shared-memory transport
  // completes them inside MPI_Isend (btl_vader_max_inline_send, 256), and larger ones it rarely does.
  // Measured, 512 B windows of 64: 498 -> 640 MB/s median of 5 without the test; 8 B ones 18 -> 15
  // MB/s without it.
  static constexpr size_t kTestAtPostBytes = 256;
  // After a burst of posts: sweeps for up to spinNs while requests are pending and nothing has
  // completed; returns how many completions it wrote to the sink (reported by the caller, not the poller).
  int Progress(uint64_t spinNs);

  // Persistent requests. Add takes an inactive persistent request (MPI_Send_init & co.) and returns its
  // id; MPI_REQUEST_NULL stands for a send to or receive from MPI_PROC_NULL, which MPI is not asked to
  // make: MPICH 4.0.2 mishandles those (a started one is taken for inactive, and freeing one leaves
  // later persistent collectives never completing; test/unit/mpi-quirks.test.ts), and each start of
  // one is complete at once with nothing to do. Start activates one (returns -1 with the status written
  // if it completed at once, else a slot; *rc is MPI's error); StartBatch activates several with
  // MPI_Startall as one slot (-1 with the status written when none of them needs MPI); Free releases
  // an inactive one. A receive started while an earlier unposted receive could take its message first
  // is started once that one has matched (as a receive of known size is posted then): its start never
  // blocks.
  int AddPersistent(MPI_Request req, bool isRecv, const Envelope& e, bool coll = false);
  int StartPersistent(int id, double* status, int* rc);
  int StartBatch(const int32_t* ids, int n, double* status, int* rc);
  int FreePersistent(int id);
  // MPI_SUCCESS, or why `id` cannot be started now (unknown/freed: MPI_ERR_REQUEST; active: kErrRequestActive).
  int CheckStartable(int id) const;
  // The status record of `id`'s part in the startAll batch that last completed it: a receive's always,
  // a send's when the batch was asked to cancel (`cancelAsked`: only then is the cancelled flag MPI's).
  // false for an id that is not a persistent request.
  bool BatchStatus(int id, bool cancelAsked, double* out) const;
  // A receive of known size into `data`: posted now, or deferred behind an earlier unposted receive
  // that could take its message. Returns -1 (completed, status written) or the slot; *rc is MPI's error
  // when posting failed (nothing tracked then).
  int PostRecv(void* data, size_t count, MPI_Datatype type, const Envelope& e, double* status, int* rc);
  // A receive of unknown size: completion reports the matched message (kMessage) and its size, and the
  // caller receives it with MPI_Imrecv / MPI_Mrecv.
  int PostProbe(const Envelope& e, double* status);
  // Before a blocking receive matching `e`: matches every earlier unposted receive that could take its
  // message (blocking, as MPI_Recv waits behind an earlier receive). Returns MPI_SUCCESS.
  void DriveAhead(const Envelope& e) {
    if (!unposted_.empty()) DriveAheadSlow(e);
  }

  int Wait(int slot, double* status);                // blocking; returns MPI_SUCCESS or error code
  int Test(int slot, bool* done, double* status);    // never blocks
  int Cancel(int slot);
  // Whether a pending slot keeps the event loop alive (all do, until told otherwise).
  int SetRef(int slot, bool ref);
  // For how long (ns) nothing but the engine's pending requests has kept the event loop alive (Poller).
  uint64_t AloneNs() const { return poller_.AloneNs(); }

  // Several slots at once (MPI_Waitall & co.); `out` gets one status record per slot, at the slot's
  // position. A slot that is not pending gets the error MPI_ERR_REQUEST in its record.
  void WaitAll(const int32_t* slots, int n, double* out);
  // The position of the slot that completed (its record at out[position]), or -1 when none is pending
  // (MPI_UNDEFINED), or for TestAny -2 when none has completed yet.
  int WaitAny(const int32_t* slots, int n, double* out);
  int TestAny(const int32_t* slots, int n, double* out);
  // How many completed (>= 1 for WaitSome unless none is pending: -1), their positions in `positions`.
  int WaitSome(const int32_t* slots, int n, int32_t* positions, double* out);
  int TestSome(const int32_t* slots, int n, int32_t* positions, double* out);
  // All complete (records written, slots released) or none is touched.
  bool TestAll(const int32_t* slots, int n, double* out);

  MPI_Message TakeMessage(int id);
  int PutMessage(MPI_Message m);

  int64_t pending() const {
    return static_cast<int64_t>(reqs_.size() + unposted_.size() + matched_.size() + batches_.size());
  }
  bool HasUnposted() const { return !unposted_.empty(); }
  void Shutdown(bool mpiUsable);  // cancels what it can, closes the uv handles, deletes this

 private:
  enum class SlotKind : uint8_t { kFree, kRequest, kUnposted, kMatched, kBatch };
  struct SlotInfo {
    SlotKind kind = SlotKind::kFree;
    bool isRecv = false;
    bool cancelAsked = false;
    bool unref = false;  // does not keep the event loop alive
    bool internal = false;  // a batch member's deferred start: neither counted nor referenced (its batch is)
    uint32_t index = 0;    // position in reqs_, unposted_, matched_ or batches_
    int32_t persist = -1;  // the persistent request this slot is an activation of
  };
  struct Persistent {
    MPI_Request req;  // MPI_REQUEST_NULL for one with MPI_PROC_NULL (AddPersistent) and once freed
    Envelope env;     // of a receive: what it matches (order, see above)
    bool isRecv;
    bool active;
    bool failed;      // an activation completed with an error: not started again (see FreePersistent)
    bool procNull;    // to or from MPI_PROC_NULL: complete at every start, without MPI
    bool freed;
    bool coll;        // a persistent collective, which MPI cannot cancel
    // How its latest batch activation ended, for BatchStatus: MPI's status in `last`, complete at start
    // (PROC_NULL), or dropped by a cancel before MPI started it. Written at completion for receives (and
    // sends in a batch asked to cancel): a copy of the status MPI_Testall/MPI_Waitall wrote anyway.
    enum class Ended : uint8_t { kMpi, kProcNull, kDropped } ended;
    MPI_Status last;
  };
  // Persistent requests started together: one slot, completed when all are.
  struct Batch {
    int slot;
    std::vector<int32_t> ids;          // those started (ids and handles grow as deferred ones start)
    std::vector<MPI_Request> handles;
    int error = MPI_SUCCESS;  // the first request's that failed (see CompleteBatchAt)
    int deferred = 0;         // receives waiting in unposted_ behind an earlier receive
    bool cancelAsked = false;
  };
  // A receive MPI does not have yet, in posting order.
  struct Unposted {
    Envelope env;
    int slot;
    bool known;  // a receive of known size (deferred), else of unknown size (a probe)
    void* data;
    size_t count;
    MPI_Datatype type;
    int persist = -1;  // a persistent receive's deferred start (known), MPI_Start instead of MPI_Irecv
    int batch = -1;    // and the batch slot it belongs to (its own slot is then internal)
  };
  // A completion made outside a sweep (a probe matched while a blocking call drove the queue, a
  // cancelled unposted receive), delivered by the next sweep or taken by a wait or test of its slot.
  struct Matched {
    int slot;
    double rec[kStatusFields];
  };

  int NewSlot(SlotKind kind, bool isRecv, uint32_t index, bool internal = false);
  void FreeSlot(int slot);  // also ends the activation of a persistent request
  // The activation of slot's persistent request (if any) completed with `rc`.
  void EndActivation(int slot, int rc);
  // The batch of ids[0..n) that start now: all of them when `later` is null, else those whose later[k]
  // is 0 (1: MPI_PROC_NULL, complete already; 2: deferred, joins the batch when started).
  int NewBatch(const int32_t* ids, int n, const uint8_t* later);
  void RemoveBatchAt(uint32_t i);
  // Cancels a batch's point-to-point requests: MPI_Cancel for those MPI started; the deferred ones, which
  // it never saw, are dropped (cancelled) here. Its collectives complete as they would.
  int CancelBatch(int slot);
  // Completes batch slot `slot` if all its requests are done (blocking when `wait`); the record goes to out.
  bool FinishBatch(int slot, bool wait, double* out);
  // Waits for or tests batches_[i]: false while any request is pending, else true with its record (the
  // first failed request's error) written to out, its requests inactive, and the batch removed.
  bool CompleteBatchAt(uint32_t i, bool wait, double* out);
  void RemoveRequestAt(uint32_t i);
  void EraseUnposted(size_t i);
  void TakeMatched(int slot, double* out);  // copies the record out and frees the slot
  int TakeFirstMatched(const int32_t* slots, int n, double* out);

  static bool Overlap(const Envelope& a, const Envelope& b) {
    return a.comm == b.comm && (a.source == b.source || a.source == MPI_ANY_SOURCE || b.source == MPI_ANY_SOURCE) &&
           (a.tag == b.tag || a.tag == MPI_ANY_TAG || b.tag == MPI_ANY_TAG);
  }
  // Whether an unposted receive (before position `end`) could take a message `e` matches.
  bool BlockedBefore(const Envelope& e, size_t end) const;
  bool Blocked(const Envelope& e) const { return !unposted_.empty() && BlockedBefore(e, unposted_.size()); }
  int PushUnposted(const Unposted& u, bool internal = false);
  // One pass over the unposted receives in order: posts the deferred ones and probes the ones nothing
  // earlier blocks; matched and failed ones become Matched records. Returns whether anything changed.
  bool Advance();
  void DriveAheadSlow(const Envelope& e);
  // Probes `e` once; true with the record written when a message matched (or the probe failed).
  bool ProbeOnce(const Envelope& e, double* out);
  // Posts a deferred receive in MPI; false with the error record written when posting failed.
  bool PostDeferred(const Unposted& u, MPI_Request* req, double* out);
  // A deferred persistent start that may go now: starts it, its slot a tracked request, or its batch's.
  void StartDeferred(const Unposted& u);

  // Slots among `slots` that are still unposted are posted or matched first (blocking).
  void Settle(const int32_t* slots, int n);
  bool AnyUnposted(const int32_t* slots, int n) const;
  bool AnyBatch(const int32_t* slots, int n) const;
  // Batches among `slots` that have completed (all of them, when `wait`) become matched records.
  void TestBatches(const int32_t* slots, int n, bool wait);
  // Gathers the MPI requests of `slots`: requests into gathered_, positions into gatheredAt_.
  void Gather(const int32_t* slots, int n);
  // MPI_Testany of the gathered requests (see engine.cc for why it is made with MPI_Testsome).
  int TestAnyGathered(const int32_t* slots, double* out, int* rc);
  // A request MPI completed that its caller does not report now: a matched record of its slot.
  void KeepMatched(int slot, const MPI_Status& st, int rc);
  // Makes m's slot a matched record (its completion is taken by the next sweep, wait or test of it).
  void AddMatched(const Matched& m);
  // Writes the record of a slot that is not pending.
  static void FillBadSlot(double* out);
  bool Valid(int slot) const { return slot >= 0 && slot < static_cast<int>(slots_.size()) && slots_[slot].kind != SlotKind::kFree; }

  // Poller::Source: one pass of Testsome + the unposted queue, writing completions to the sink.
  int Sweep() override;
  bool Pending() const override { return pending() > 0; }
  bool MayPoll() const override;

  Poller poller_;

  std::vector<MPI_Request> reqs_;
  std::vector<int32_t> reqSlots_;
  std::vector<MPI_Status> statuses_;
  std::vector<int> indices_;
  std::vector<Unposted> unposted_;
  std::vector<Matched> matched_;
  std::vector<SlotInfo> slots_;
  std::vector<int32_t> freeSlots_;
  std::vector<MPI_Message> messages_;
  std::vector<int32_t> freeMessages_;
  std::vector<MPI_Request> gathered_;
  std::vector<int32_t> gatheredAt_;
  std::vector<uint32_t> done_;
  std::vector<Persistent> persist_;
  std::vector<int32_t> freePersist_;
  std::vector<Batch> batches_;
  std::vector<MPI_Status> batchStatuses_;
  std::vector<uint8_t> batchLater_;  // StartBatch's scratch (NewBatch's `later`)

  // Every slot in use (read by other threads through ProcessState::Pending), and those of them that
  // keep the loop alive: the poller's handles are unreferenced while none does.
  OwnedCount live_;
  int64_t refd_ = 0;

  int32_t* doneSlots_ = nullptr;
  double* doneStatus_ = nullptr;
  int capacity_ = 0;
};

}  // namespace mpi4node
