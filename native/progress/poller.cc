#include "progress/poller.h"

namespace mpi4node {

Poller::Poller(napi_env env, uv_loop_t* loop, Source* source) : env_(env), source_(source) {
  uv_idle_init(loop, &idle_);
  uv_timer_init(loop, &timer_);
  idle_.data = this;
  timer_.data = this;
}

void Poller::Arm() {
  // Only noted: the next poll restarts the back-off window from its own clock reading. Each post arms
  // the poller, and a clock read here cost every request ~65 ns on this VM (perf of irecv().wait() to
  // oneself: 7.7% of the loop in uv_hrtime).
  armed_ = true;
  aloneSince_ = 0;
  if (mode_ == Mode::kFast || closing_ || onComplete_.IsEmpty()) return;
  if (mode_ == Mode::kSlow) uv_timer_stop(&timer_);
  uv_idle_start(&idle_, OnIdle);
  mode_ = Mode::kFast;
}

void Poller::Disarm() {
  aloneSince_ = 0;
  if (mode_ == Mode::kFast) uv_idle_stop(&idle_);
  if (mode_ == Mode::kSlow) uv_timer_stop(&timer_);
  mode_ = Mode::kOff;
}

void Poller::ApplyRef(bool ref) {
  ref_ = ref;
  if (closing_) return;
  for (uv_handle_t* h : {reinterpret_cast<uv_handle_t*>(&idle_), reinterpret_cast<uv_handle_t*>(&timer_)}) {
    if (ref) uv_ref(h);
    else uv_unref(h);
  }
}

bool Poller::OthersKeepLoopAlive() {
  if (closing_) return true;
  const bool was = ref_;
  ApplyRef(false);
  const bool alive = uv_loop_alive(idle_.loop) != 0;
  ApplyRef(was);
  return alive;
}

void Poller::Poll(uint64_t spinNs) {
  if (!source_->MayPoll()) {
    Disarm();
    return;
  }
  const uint64_t t0 = uv_hrtime();
  int n;
  do {
    n = source_->Sweep();
  } while (n == 0 && uv_hrtime() - t0 < spinNs);
  const uint64_t now = uv_hrtime();
  if (n > 0 || armed_) {
    lastProgress_ = now;
    armed_ = false;
  }
  if (n > 0) Deliver(n);  // may post or wait re-entrantly: the source is consistent here
  if (!source_->Pending()) {
    Disarm();
  } else if (n > 0) {
    Arm();
  } else if (mode_ == Mode::kFast && now - lastProgress_ > kBackoffNs) {
    uv_idle_stop(&idle_);
    uv_timer_start(&timer_, OnTimer, kSlowPollMs, kSlowPollMs);
    mode_ = Mode::kSlow;
  }
}

// Raw N-API on purpose: while a worker is being terminated its loop may still run this, and JavaScript
// can no longer be called. node-addon-api turns that failure into a C++ exception whose construction
// itself needs JavaScript, which is a fatal error (test/unit/worker-gpu.test.ts tears workers down in
// the middle of this; it aborted unit/worker-multiple now and then before).
void Poller::Deliver(int n) {
  napi_handle_scope scope;
  if (napi_open_handle_scope(env_, &scope) != napi_ok) return;
  napi_value fn, global, arg, result;
  if (napi_get_reference_value(env_, onComplete_, &fn) == napi_ok && fn != nullptr &&
      napi_get_global(env_, &global) == napi_ok && napi_create_int32(env_, n, &arg) == napi_ok &&
      napi_make_callback(env_, nullptr, global, fn, 1, &arg, &result) != napi_ok) {
    // Our own handler threw: surface it as an uncaught exception (which aborts the job by default).
    // With no exception pending, the environment is going away and there is nobody left to tell.
    bool pending = false;
    napi_value e;
    if (napi_is_exception_pending(env_, &pending) == napi_ok && pending &&
        napi_get_and_clear_last_exception(env_, &e) == napi_ok) {
      napi_fatal_exception(env_, e);
    }
  }
  napi_close_handle_scope(env_, scope);
}

void Poller::OnIdle(uv_idle_t* h) { static_cast<Poller*>(h->data)->Poll(kSpinNs); }
void Poller::OnTimer(uv_timer_t* h) {
  Poller* self = static_cast<Poller*>(h->data);
  self->Poll(0);
  if (self->mode_ != Mode::kSlow || !self->ref_) return;
  const uint64_t now = uv_hrtime();
  if (now - self->lastAliveCheck_ < kAliveCheckNs) return;
  self->lastAliveCheck_ = now;
  if (self->OthersKeepLoopAlive()) self->aloneSince_ = 0;
  else if (self->aloneSince_ == 0) self->aloneSince_ = now;
}

void Poller::Close(void (*closed)(void*), void* arg) {
  Disarm();
  onComplete_.Reset();
  closed_ = closed;
  closedArg_ = arg;
  closing_ = 2;
  uv_close(reinterpret_cast<uv_handle_t*>(&idle_), OnClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), OnClosed);
}

void Poller::OnClosed(uv_handle_t* h) {
  Poller* self = static_cast<Poller*>(h->data);
  if (--self->closing_ == 0) self->closed_(self->closedArg_);  // may delete this poller
}

}  // namespace mpi4node
