// Bindings for dynamic processes (MPI chapter 11) and intercommunicators: spawn, the parent, ports,
// accept/connect, disconnect, merge. New communicators are registered as comm.cc's are (the user's
// handle and its private duplicate). lib/comm/intercomm.ts checks every argument first.
#include <cstring>
#include <string>
#include <vector>

#include "addon.h"
#include "core/args.h"
#include "core/exports.h"
#include "mpi/comm.h"

namespace mpi4node {

namespace {
// MPI_Comm_get_parent's communicator has MPI's default handler, MPI_ERRORS_ARE_FATAL; the others would
// inherit the library's MPI_ERRORS_RETURN, set here too so that no error of theirs aborts the job.
Napi::Value Registered(const Args& a, MPI_Comm inter) {
  if (inter != MPI_COMM_NULL) MPI_Comm_set_errhandler(inter, MPI_ERRORS_RETURN);
  return RegisterComm(a, inter);
}
}  // namespace

// commSpawn(command, argv[], maxprocs, info, root, comm) -> [[user, internal], errcodes[]]. command
// and argv matter at the root only (MPI ignores them elsewhere).
Napi::Value Addon::CommSpawn(const Napi::CallbackInfo& info) {
  Args a(this, info);
  const std::string command = a.String(0);
  Napi::Array list = info[1].As<Napi::Array>();
  std::vector<std::string> args(list.Length());
  for (uint32_t i = 0; i < list.Length(); ++i) args[i] = list.Get(i).As<Napi::String>().Utf8Value();
  std::vector<char*> argv;
  for (std::string& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  const int maxprocs = a.Int(2);
  MPI_Info hints = a.Info(3);
  const int root = a.Int(4);
  MPI_Comm comm = a.Comm(5);
  std::vector<int> errcodes(maxprocs > 0 ? maxprocs : 1, MPI_SUCCESS);
  MPI_Comm inter = MPI_COMM_NULL;
  a.Check(MPI_Comm_spawn(command.c_str(), argv.data(), maxprocs, hints, root, comm, &inter, errcodes.data()));
  Napi::Array codes = Napi::Array::New(a.env(), maxprocs);
  for (int i = 0; i < maxprocs; ++i) codes.Set(i, errcodes[i]);
  Napi::Array out = Napi::Array::New(a.env(), 2);
  out.Set(0u, Registered(a, inter));
  out.Set(1u, codes);
  return out;
}

// commGetParent() -> [user, internal], or null in a process that was not spawned.
Napi::Value Addon::CommGetParent(const Napi::CallbackInfo& info) {
  Args a(this, info);
  MPI_Comm parent = MPI_COMM_NULL;
  a.Check(MPI_Comm_get_parent(&parent));
  return Registered(a, parent);
}

// openPort(info) -> the port name.
Napi::Value Addon::OpenPort(const Napi::CallbackInfo& info) {
  Args a(this, info);
  char port[MPI_MAX_PORT_NAME + 1] = {0};
  a.Check(MPI_Open_port(a.Info(0), port));
  return Napi::String::New(a.env(), port);
}

Napi::Value Addon::ClosePort(const Napi::CallbackInfo& info) {
  Args a(this, info);
  std::string port = a.String(0);
  return a.Done(MPI_Close_port(port.c_str()));
}

// commAccept / commConnect (port, info, root, comm) -> [user, internal]. The port matters at the root.
Napi::Value Addon::CommAcceptConnect(const Napi::CallbackInfo& info, bool accept) {
  Args a(this, info);
  const std::string port = a.String(0);
  MPI_Info hints = a.Info(1);
  const int root = a.Int(2);
  MPI_Comm comm = a.Comm(3);
  MPI_Comm inter = MPI_COMM_NULL;
  a.Check(accept ? MPI_Comm_accept(port.c_str(), hints, root, comm, &inter)
                 : MPI_Comm_connect(port.c_str(), hints, root, comm, &inter));
  return Registered(a, inter);
}

// intercommMerge(comm, high) -> [user, internal] of the intracommunicator.
Napi::Value Addon::IntercommMerge(const Napi::CallbackInfo& info) {
  Args a(this, info);
  MPI_Comm out = MPI_COMM_NULL;
  a.Check(MPI_Intercomm_merge(a.Comm(0), a.Flag(1) ? 1 : 0, &out));
  return Registered(a, out);
}

// commRemoteSize(comm): the remote group's size, or -1 for an intracommunicator.
Napi::Value Addon::CommRemoteSize(const Napi::CallbackInfo& info) {
  Args a(this, info);
  MPI_Comm c = a.Comm(0);
  int inter = 0, size = -1;
  a.Check(MPI_Comm_test_inter(c, &inter));
  if (inter) a.Check(MPI_Comm_remote_size(c, &size));
  return Napi::Number::New(a.env(), size);
}

// commRemoteGroup(comm) -> a group handle (lib/comm/group.ts) of the remote group.
Napi::Value Addon::CommRemoteGroup(const Napi::CallbackInfo& info) {
  Args a(this, info);
  MPI_Group g;
  a.Check(MPI_Comm_remote_group(a.Comm(0), &g));
  return Napi::Number::New(a.env(), groups_.Add(g));
}

void Addon::DefineDynamic(Napi::Env env, Napi::Object exports) {
  static const Export table[] = {
      {"commSpawn", Method<&Addon::CommSpawn>},
      {"commGetParent", Method<&Addon::CommGetParent>},
      {"openPort", Method<&Addon::OpenPort>},
      {"closePort", Method<&Addon::ClosePort>},
      {"commAccept", Method<&Addon::CommAcceptConnect, true>},
      {"commConnect", Method<&Addon::CommAcceptConnect, false>},
      {"intercommMerge", Method<&Addon::IntercommMerge>},
      {"commRemoteSize", Method<&Addon::CommRemoteSize>},
      {"commRemoteGroup", Method<&Addon::CommRemoteGroup>},
  };
  DefineExports(env, exports, this, table);
}

}  // namespace mpi4node
