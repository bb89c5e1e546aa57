#include "addon.h"

#include "core/buffers.h"
#include "core/errors.h"
#include "gpu/env.h"

namespace mpi4node {

Addon::Addon(Napi::Env env, Napi::Object exports) {
  ProcessState::Get().Acquire();
  NoteCreated(this);
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  engine_ = new Engine(env, loop);
  napi_add_async_cleanup_hook(env, AsyncCleanup, this, &cleanupHandle_);

  DefineAddon(exports, {});  // makes `exports` the module's; its properties come from:
  DefineEnv(env, exports);
  DefineComm(env, exports);
  DefineP2p(env, exports);
  DefineColl(env, exports);
  DefineTopo(env, exports);
  DefineGroup(env, exports);
  DefineInfo(env, exports);
  DefineIo(env, exports);
  DefineParts(env, exports);
  DefineFast(env, exports);
  DefineHalf(env, exports);
  DefineWin(env, exports);
  DefineDynamic(env, exports);
  DefineMemory(env, exports);
  GpuEnv::Define(this, env, exports);  // exports.gpu; loads nothing until first used
}

Addon::~Addon() {
  NoteDestroyed(this);
  ProcessState::Get().Release();
}

// The environment is going away (process exit or a worker ending): pending requests are cancelled
// where MPI allows (not once exit has given up on MPI_Finalize: they may never complete), and the
// engine's uv handles are closed before the loop is.
void Addon::AsyncCleanup(napi_async_cleanup_hook_handle handle, void* arg) {
  Addon* self = static_cast<Addon*>(arg);
  Engine* engine = self->engine_;
  self->engine_ = nullptr;
  ProcessState& ps = ProcessState::Get();
  engine->Shutdown(self->usable_ && ps.CallerMayUseMpi() && !ps.finalizeSkipped());
  napi_remove_async_cleanup_hook(handle);
}

Napi::Value Addon::MakeError(Napi::Env env, int code, int comm) {
  int cls = code;
  if (code >= 0 && ProcessState::Get().running()) {
    MPI_Error_class(code, &cls);
  }
  const std::string name = ErrorClassName(cls);
  const std::string message = ErrorString(code);
  if (mpiError_.IsEmpty()) {
    Napi::Error e = Napi::Error::New(env, name + ": " + message);
    e.Set("code", Napi::String::New(env, name));
    return e.Value();
  }
  Napi::Value e = mpiError_.New({Napi::String::New(env, message), Napi::String::New(env, name),
                                 Napi::Number::New(env, cls), Napi::Number::New(env, code)});
  if (comm < 0 || comm >= static_cast<int>(hooked_.size()) || !hooked_[comm] || onMpiError_.IsEmpty()) return e;
  // The hook runs here, on the thread and in the call that got the code (never from inside MPI); the
  // dispatcher catches whatever it throws and returns the error to use instead.
  return onMpiError_.Call({Napi::Number::New(env, comm), e});
}

void Addon::ThrowMpi(Napi::Env env, int code, int comm) { throw Napi::Error(env, MakeError(env, code, comm)); }

void Addon::NoteOwnerSlow(int slot, int comm) {
  if (slot < 0) {
    immediateOwner_ = comm;
    return;
  }
  if (slot >= static_cast<int>(owners_.size())) owners_.resize(slot + 64, -1);
  owners_[slot] = comm;
}

int Addon::OwnerOf(int slot) const {
  if (hooks_ == 0) return -1;
  if (slot < 0) return immediateOwner_;
  return slot < static_cast<int>(owners_.size()) ? owners_[slot] : -1;
}

int Addon::UsableCode() {
  ProcessState& ps = ProcessState::Get();
  if (!ps.running()) return kErrNotInitialized;
  if (ps.provided() != MPI_THREAD_MULTIPLE && !ps.CallerMayUseMpi()) return kErrThreadLevel;
  usable_ = true;
  return MPI_SUCCESS;
}

void Addon::CheckUsable(Napi::Env env) {
  int rc = UsableCode();
  if (rc != MPI_SUCCESS) ThrowMpi(env, rc);
}

}  // namespace mpi4node

using Mpi4NodeAddon = mpi4node::Addon;
NODE_API_ADDON(Mpi4NodeAddon)
