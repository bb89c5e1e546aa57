// Bindings for the MPI environment: init/finalize, thread level, clocks, versions, constants.
#include <cstring>

#include "addon.h"
#include "core/args.h"
#include "core/exports.h"
#include "core/errors.h"

namespace mpi4node {

// setup({ status, args, doneSlots, doneStatus, onComplete, MpiError }): the buffers through which statuses
// reach JavaScript without an object per call, and the callbacks the native side calls.
Napi::Value Addon::Setup(const Napi::CallbackInfo& info) {
  Napi::Object o = info[0].As<Napi::Object>();
  auto status = o.Get("status").As<Napi::Float64Array>();
  auto doneSlots = o.Get("doneSlots").As<Napi::Int32Array>();
  auto doneStatus = o.Get("doneStatus").As<Napi::Float64Array>();
  if (status.ElementLength() < kStatusFields ||
      doneStatus.ElementLength() < doneSlots.ElementLength() * kStatusFields) {
    throw Napi::RangeError::New(info.Env(), "internal: status buffers too small");
  }
  statusRef_ = Napi::Persistent(status);
  doneSlotsRef_ = Napi::Persistent(doneSlots);
  doneStatusRef_ = Napi::Persistent(doneStatus);
  status_ = status.Data();
  auto args = o.Get("args").As<Napi::Int32Array>();
  if (args.ElementLength() < kFastArgs) throw Napi::RangeError::New(info.Env(), "internal: args slab too small");
  argsRef_ = Napi::Persistent(args);
  args_ = args.Data();
  auto clock = o.Get("clock").As<Napi::Float64Array>();
  if (clock.ElementLength() < 1) throw Napi::RangeError::New(info.Env(), "internal: clock slab too small");
  clockRef_ = Napi::Persistent(clock);
  clock_ = clock.Data();
  fastBufRefs_ = Napi::Persistent(Napi::Object::New(info.Env()));
  mpiError_ = Napi::Persistent(o.Get("MpiError").As<Napi::Function>());
  if (o.Get("onMpiError").IsFunction()) onMpiError_ = Napi::Persistent(o.Get("onMpiError").As<Napi::Function>());
  engine_->SetSink(o.Get("onComplete").As<Napi::Function>(), doneSlots.Data(), doneStatus.Data(),
                   static_cast<int>(doneSlots.ElementLength()));
  return info.Env().Undefined();
}

Napi::Value Addon::InitMpi(const Napi::CallbackInfo& info) {
  Args a(this, info, Args::kNoMpi);
  a.Check(ProcessState::Get().Init(a.Int(0)));
  a.RequireMpi();
  return Napi::Number::New(a.env(), ProcessState::Get().provided());
}

Napi::Value Addon::Finalize(const Napi::CallbackInfo& info) {
  Args a(this, info, Args::kNoMpi);
  ProcessState& ps = ProcessState::Get();
  if (!ps.running()) return info.Env().Undefined();
  int rc = ps.Finalize();
  usable_ = false;
  a.Check(rc);
  return info.Env().Undefined();
}

Napi::Value Addon::Initialized(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), ProcessState::Get().initialized());
}

Napi::Value Addon::Finalized(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), ProcessState::Get().finalized());
}

Napi::Value Addon::QueryThread(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), ProcessState::Get().provided());
}

Napi::Value Addon::Abort(const Napi::CallbackInfo& info) {
  const int code = Args(this, info, Args::kNoMpi).Int(0);
  ProcessState& ps = ProcessState::Get();
  if (ps.running()) MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

// As wtimeFast: not before MPI_Init nor after MPI_Finalize (MPICH ends the process there).
Napi::Value Addon::Wtick(const Napi::CallbackInfo& info) {
  const ProcessState& ps = ProcessState::Get();
  if (!ps.running()) ThrowMpi(info.Env(), kErrNotInitialized);
  return Napi::Number::New(info.Env(), MPI_Wtick());
}

Napi::Value Addon::Version(const Napi::CallbackInfo& info) {
  int major = 0, minor = 0;
  MPI_Get_version(&major, &minor);
  Napi::Array a = Napi::Array::New(info.Env(), 2);
  a.Set(0u, major);
  a.Set(1u, minor);
  return a;
}

Napi::Value Addon::LibraryVersion(const Napi::CallbackInfo& info) {
  char buf[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(buf, &len);
  while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\0')) --len;
  return Napi::String::New(info.Env(), buf, len);
}

Napi::Value Addon::ProcessorName(const Napi::CallbackInfo& info) {
  Args a(this, info);
  char buf[MPI_MAX_PROCESSOR_NAME];
  int len = 0;
  MPI_Get_processor_name(buf, &len);
  return Napi::String::New(info.Env(), buf, len);
}

Napi::Value Addon::Constants(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("ANY_SOURCE", static_cast<int>(MPI_ANY_SOURCE));
  o.Set("ANY_TAG", static_cast<int>(MPI_ANY_TAG));
  o.Set("PROC_NULL", static_cast<int>(MPI_PROC_NULL));
  o.Set("UNDEFINED", static_cast<int>(MPI_UNDEFINED));
  o.Set("ROOT", static_cast<int>(MPI_ROOT));
  o.Set("MAX_PORT_NAME", static_cast<int>(MPI_MAX_PORT_NAME));
  o.Set("THREAD_SINGLE", static_cast<int>(MPI_THREAD_SINGLE));
  o.Set("THREAD_FUNNELED", static_cast<int>(MPI_THREAD_FUNNELED));
  o.Set("THREAD_SERIALIZED", static_cast<int>(MPI_THREAD_SERIALIZED));
  o.Set("THREAD_MULTIPLE", static_cast<int>(MPI_THREAD_MULTIPLE));
  o.Set("IDENT", static_cast<int>(MPI_IDENT));
  o.Set("CONGRUENT", static_cast<int>(MPI_CONGRUENT));
  o.Set("SIMILAR", static_cast<int>(MPI_SIMILAR));
  o.Set("UNEQUAL", static_cast<int>(MPI_UNEQUAL));
  o.Set("MAX_PROCESSOR_NAME", static_cast<int>(MPI_MAX_PROCESSOR_NAME));
  o.Set("MAX_INFO_KEY", static_cast<int>(MPI_MAX_INFO_KEY));
  o.Set("MAX_INFO_VAL", static_cast<int>(MPI_MAX_INFO_VAL));
  o.Set("ERR_READ_ONLY", static_cast<int>(MPI_ERR_READ_ONLY));
  o.Set("ERR_ACCESS", static_cast<int>(MPI_ERR_ACCESS));
  o.Set("MODE_RDONLY", static_cast<int>(MPI_MODE_RDONLY));
  o.Set("MODE_WRONLY", static_cast<int>(MPI_MODE_WRONLY));
  o.Set("MODE_RDWR", static_cast<int>(MPI_MODE_RDWR));
  o.Set("MODE_CREATE", static_cast<int>(MPI_MODE_CREATE));
  o.Set("MODE_EXCL", static_cast<int>(MPI_MODE_EXCL));
  o.Set("MODE_APPEND", static_cast<int>(MPI_MODE_APPEND));
  o.Set("MODE_DELETE_ON_CLOSE", static_cast<int>(MPI_MODE_DELETE_ON_CLOSE));
  o.Set("MODE_UNIQUE_OPEN", static_cast<int>(MPI_MODE_UNIQUE_OPEN));
  o.Set("WORLD", kWorldHandle);
  o.Set("SELF", kSelfHandle);
  o.Set("WORLD_INTERNAL", kWorldInternalHandle);
  o.Set("SELF_INTERNAL", kSelfInternalHandle);
  o.Set("STATUS_FIELDS", static_cast<int>(kStatusFields));
  o.Set("ERR_TRUNCATE", static_cast<int>(MPI_ERR_TRUNCATE));
#if defined(OPEN_MPI)
  o.Set("IMPLEMENTATION", "openmpi");
#elif defined(MPICH_VERSION)
  o.Set("IMPLEMENTATION", "mpich");
#else
  o.Set("IMPLEMENTATION", "unknown");
#endif
  return o;
}

Napi::Value Addon::TagUpperBound(const Napi::CallbackInfo& info) {
  Args a(this, info);
  int* ub = nullptr;
  int flag = 0;
  MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_TAG_UB, &ub, &flag);
  return Napi::Number::New(info.Env(), flag && ub ? *ub : 32767);
}

Napi::Value Addon::Pending(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(ProcessState::Get().Pending()));
}

// errorFor(code[, slot]): the MpiError of a completion; `slot` is the engine slot the operation had (-1:
// it completed within its posting call), which finds its communicator's error hook.
Napi::Value Addon::ErrorFor(const Napi::CallbackInfo& info) {
  Args a(this, info, Args::kNoMpi);
  return MakeError(info.Env(), a.Int(0), info[1].IsNumber() ? OwnerOf(a.Int(1)) : -1);
}

// The process exits without MPI_Finalize (lib/core/exit.ts says when and why).
Napi::Value Addon::SkipFinalize(const Napi::CallbackInfo& info) {
  ProcessState::Get().SkipFinalize();
  return info.Env().Undefined();
}

// For how long (ms) nothing but this environment's MPI requests has kept its event loop alive; 0 when
// something else does now.
Napi::Value Addon::KeptAliveByMpiMs(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), engine_ == nullptr ? 0 : engine_->AloneNs() / 1e6);
}

void Addon::DefineEnv(Napi::Env env, Napi::Object exports) {
  static const Export table[] = {
      {"setup", Method<&Addon::Setup>},
      {"init", Method<&Addon::InitMpi>},
      {"finalize", Method<&Addon::Finalize>},
      {"initialized", Method<&Addon::Initialized>},
      {"finalized", Method<&Addon::Finalized>},
      {"queryThread", Method<&Addon::QueryThread>},
      {"abort", Method<&Addon::Abort>},
      {"wtick", Method<&Addon::Wtick>},
      {"version", Method<&Addon::Version>},
      {"libraryVersion", Method<&Addon::LibraryVersion>},
      {"processorName", Method<&Addon::ProcessorName>},
      {"constants", Method<&Addon::Constants>},
      {"tagUpperBound", Method<&Addon::TagUpperBound>},
      {"pending", Method<&Addon::Pending>},
      {"errorFor", Method<&Addon::ErrorFor>},
      {"skipFinalize", Method<&Addon::SkipFinalize>},
      {"keptAliveByMpiMs", Method<&Addon::KeptAliveByMpiMs>},
  };
  DefineExports(env, exports, this, table);
}

}  // namespace mpi4node
