// Completion polling from the event loop, for everything that finishes in the background: MPI requests
// (the progress engine, engine.h) and device operations (gpu/env.h). Nothing here blocks the loop.
//
// Why this shape:
// - Polling once per loop iteration costs a loop trip per completion (one epoll trip is ~2.9 us here),
//   so while work is pending a uv_idle handle sweeps for up to kSpinNs per loop iteration before
//   letting the loop go on: a reply to a small message, a short kernel or a chunk copy often completes
//   within tens of microseconds, and one that lands within the spin costs no trip.
// - After kBackoffNs without progress the poller drops to a uv_timer every kSlowPollMs, so a rank
//   waiting for a late peer (or a long kernel) uses a few percent of a core, not all of it; any post or
//   completion re-arms fast polling. The fast window must outlast several timer steps, not one: a
//   message past the eager limit completes only after a handshake in which each side acts in turn
//   (request to send, clear to send, data), and a side in timer steps answers each step up to 1 ms
//   late. With a 2 ms window one late answer (a GC pause, a descheduled rank) sent the other side
//   into timer steps too, and the two then paced each other at ~1 ms a step for many round trips (a
//   Promise ping-pong of typed-channel messages of 8 KiB: 110-226 us a round trip on average, 2-3% of
//   them over 1 ms, against 46 us with 20 ms; bench/ has the 4 KiB row).
// - All completions of one sweep reach JavaScript in one callback, made with raw N-API (see Deliver):
//   while a worker is being torn down its loop may still run a sweep, and JavaScript can no longer be
//   called then.
#pragma once

#include <napi.h>
#include <uv.h>

#include <cstdint>

namespace mpi4node {

class Poller {
 public:
  // What a poller drives.
  class Source {
   public:
    // Completes what it can without blocking and writes the completions where JavaScript reads them;
    // returns how many (never more than that sink holds).
    virtual int Sweep() = 0;
    // Whether anything is left to poll.
    virtual bool Pending() const = 0;
    // False when polling must stop for now (MPI finalised, or not callable from this thread).
    virtual bool MayPoll() const { return true; }

   protected:
    ~Source() = default;
  };

  static constexpr uint64_t kSpinNs = 30'000;
  static constexpr uint64_t kBackoffNs = 20'000'000;  // see above: long enough for a handshake in timer steps
  static constexpr uint64_t kSlowPollMs = 1;
  static constexpr uint64_t kAliveCheckNs = 100'000'000;

  Poller(napi_env env, uv_loop_t* loop, Source* source);
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;

  // The JavaScript function each sweep's completions are reported to, as its one argument (their
  // number). Until it is set, the poller stays off.
  void SetCallback(Napi::Function onComplete) { onComplete_ = Napi::Persistent(onComplete); }
  // Work was posted or has progressed: poll fast, again.
  void Arm();
  void Disarm();
  // Whether the uv handles keep the loop alive while they poll. Unreferenced, the process may exit
  // with work still pending (what each pending operation is is the source's business).
  void SetRef(bool ref) {
    if (ref != ref_) ApplyRef(ref);
  }
  // For how long (ns) nothing but this poller has kept the event loop alive while it waited with work
  // pending, as seen from its slow timer (a JavaScript timer's own uv handle is stopped while its
  // callback runs, so JavaScript cannot see this itself); 0 when something else does.
  uint64_t AloneNs() const { return aloneSince_ == 0 ? 0 : uv_hrtime() - aloneSince_; }
  // Stops for good: drops the callback and closes the uv handles; `closed(arg)` runs once they are
  // closed (where the owner of this poller may delete it).
  void Close(void (*closed)(void*), void* arg);

 private:
  void ApplyRef(bool ref);
  bool OthersKeepLoopAlive();
  void Poll(uint64_t spinNs);
  void Deliver(int n);
  static void OnIdle(uv_idle_t* h);
  static void OnTimer(uv_timer_t* h);
  static void OnClosed(uv_handle_t* h);

  napi_env env_;
  Source* source_;
  uv_idle_t idle_;
  uv_timer_t timer_;
  enum class Mode { kOff, kFast, kSlow } mode_ = Mode::kOff;
  uint64_t lastProgress_ = 0;
  bool armed_ = false;  // work was posted or progressed since the last poll (Arm)
  bool ref_ = true;
  uint64_t aloneSince_ = 0;
  uint64_t lastAliveCheck_ = 0;
  int closing_ = 0;  // handles still to close
  void (*closed_)(void*) = nullptr;
  void* closedArg_ = nullptr;
  Napi::FunctionReference onComplete_;
};

}  // namespace mpi4node
