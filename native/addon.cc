#include "addon.h"

#include "core/buffers.h"
#include "core/errors.h"
#include "gpu/env.h"

namespace mpi4node {

Addon::Addon(Napi::Env env, Napi::Object exports) : thread_(std::this_thread::get_id()) {
  ProcessState::Get().Acquire();
  NoteCreated(this);
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  engine_ = new Engine(env, loop);
  napi_add_async_cleanup_hook(env, AsyncCleanup, this, &cleanupHandle_);

  DefineAddon(exports, {
      InstanceMethod("setup", &Addon::Setup),
      InstanceMethod("init", &Addon::InitMpi),
      InstanceMethod("finalize", &Addon::Finalize),
      InstanceMethod("initialized", &Addon::Initialized),
      InstanceMethod("finalized", &Addon::Finalized),
      InstanceMethod("queryThread", &Addon::QueryThread),
      InstanceMethod("abort", &Addon::Abort),
      InstanceMethod("wtick", &Addon::Wtick),
      InstanceMethod("version", &Addon::Version),
      InstanceMethod("libraryVersion", &Addon::LibraryVersion),
      InstanceMethod("processorName", &Addon::ProcessorName),
      InstanceMethod("constants", &Addon::Constants),
      InstanceMethod("tagUpperBound", &Addon::TagUpperBound),
      InstanceMethod("pending", &Addon::Pending),
      InstanceMethod("errorFor", &Addon::ErrorFor),
      InstanceMethod("commRank", &Addon::CommRank),
      InstanceMethod("commSize", &Addon::CommSize),
      InstanceMethod("commDup", &Addon::CommDup),
      InstanceMethod("commSplit", &Addon::CommSplit),
      InstanceMethod("commSplitShared", &Addon::CommSplitShared),
      InstanceMethod("commCompare", &Addon::CommCompare),
      InstanceMethod("commFree", &Addon::CommFree),
      InstanceMethod("send", &Addon::Send),
      InstanceMethod("recv", &Addon::Recv),
      InstanceMethod("sendrecv", &Addon::Sendrecv),
      InstanceMethod("sendrecvReplace", &Addon::SendrecvReplace),
      InstanceMethod("probe", &Addon::Probe),
      InstanceMethod("iprobe", &Addon::Iprobe),
      InstanceMethod("mprobe", &Addon::Mprobe),
      InstanceMethod("mrecv", &Addon::Mrecv),
      InstanceMethod("improbe", &Addon::Improbe),
      InstanceMethod("wait", &Addon::Wait),
      InstanceMethod("test", &Addon::Test),
      InstanceMethod("cancel", &Addon::Cancel),
      InstanceMethod("bcast", &Addon::Bcast),
      InstanceMethod("reduce", &Addon::Reduce),
      InstanceMethod("allreduce", &Addon::Allreduce),
      InstanceMethod("scan", &Addon::Scan),
      InstanceMethod("exscan", &Addon::Exscan),
      InstanceMethod("reduceScatterBlock", &Addon::ReduceScatterBlock),
      InstanceMethod("reduceScatter", &Addon::ReduceScatter),
      InstanceMethod("gather", &Addon::Gather),
      InstanceMethod("scatter", &Addon::Scatter),
      InstanceMethod("allgather", &Addon::Allgather),
      InstanceMethod("alltoall", &Addon::Alltoall),
      InstanceMethod("gatherv", &Addon::Gatherv),
      InstanceMethod("scatterv", &Addon::Scatterv),
      InstanceMethod("allgatherv", &Addon::Allgatherv),
      InstanceMethod("alltoallv", &Addon::Alltoallv),
      InstanceMethod("divide", &Addon::Divide),
      InstanceMethod("sendParts", &Addon::SendParts),
      InstanceMethod("recvMessage", &Addon::RecvMessage),
      InstanceMethod("allocBuffer", &Addon::AllocBuffer),
      InstanceMethod("distGraphCreate", &Addon::DistGraphCreate),
      InstanceMethod("distGraphNeighbors", &Addon::DistGraphNeighbors),
      InstanceMethod("topoAgree", &Addon::TopoAgree),
      InstanceMethod("neighborAllgather", &Addon::NeighborAllgather),
      InstanceMethod("neighborAlltoall", &Addon::NeighborAlltoall),
      InstanceMethod("registerBuffer", &Addon::RegisterBuffer),
  });
  DefineFastCalls(env, exports);
  GpuEnv::Define(this, env, exports);  // exports.gpu; loads nothing until first used
}

Addon::~Addon() {
  NoteDestroyed(this);
  ProcessState::Get().Release();
}

// The environment is going away (process exit or a worker ending): pending requests are cancelled
// where MPI allows, and the engine's uv handles are closed before the loop is.
void Addon::AsyncCleanup(napi_async_cleanup_hook_handle handle, void* arg) {
  Addon* self = static_cast<Addon*>(arg);
  Engine* engine = self->engine_;
  self->engine_ = nullptr;
  engine->Shutdown(self->usable_ && ProcessState::Get().CallerMayUseMpi());
  napi_remove_async_cleanup_hook(handle);
}

Napi::Value Addon::MakeError(Napi::Env env, int code) {
  int cls = code;
  if (code >= 0 && ProcessState::Get().initialized() && !ProcessState::Get().finalized()) {
    MPI_Error_class(code, &cls);
  }
  const std::string name = ErrorClassName(cls);
  const std::string message = ErrorString(code);
  if (mpiError_.IsEmpty()) {
    Napi::Error e = Napi::Error::New(env, name + ": " + message);
    e.Set("code", Napi::String::New(env, name));
    return e.Value();
  }
  return mpiError_.New({Napi::String::New(env, message), Napi::String::New(env, name),
                        Napi::Number::New(env, cls), Napi::Number::New(env, code)});
}

void Addon::ThrowMpi(Napi::Env env, int code) { throw Napi::Error(env, MakeError(env, code)); }

int Addon::UsableCode() {
  ProcessState& ps = ProcessState::Get();
  if (!ps.initialized() || ps.finalized()) return kErrNotInitialized;
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
