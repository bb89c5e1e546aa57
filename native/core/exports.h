// How the addon registers what it exports, all in one way: each binding file defines its part of the
// exports (a Define* function there) from a table of {name, raw N-API callback}, and the owner of that
// part calls each file's Define* in turn (the Addon's constructor for the MPI bindings, GpuEnv::Define
// for `exports.gpu`). Every callback gets its owner as its data pointer, so a call finds its object
// without a lookup. Methods of the owner become callbacks through Method<&Class::Name>; the hot-path
// fast calls (mpi/fast.cc) are raw callbacks already and sit in a table of the same shape.
#pragma once

#include <napi.h>

#include <cstddef>

namespace mpi4node {

struct Export {
  const char* name;
  napi_callback callback;
};

template <typename M>
struct MethodOf;
template <typename T, typename... Extra>
struct MethodOf<Napi::Value (T::*)(const Napi::CallbackInfo&, Extra...)> {
  using Owner = T;
};

// Calls `call(owner, info)` for a raw callback. A C++ exception becomes the JavaScript exception, as
// node-addon-api's own wrappers do it.
template <typename Owner, typename Call>
napi_value Invoke(napi_env env, napi_callback_info cbinfo, Call call) {
  try {
    Napi::CallbackInfo info(env, cbinfo);
    return call(static_cast<Owner*>(info.Data()), info);
  } catch (const Napi::Error& e) {
    e.ThrowAsJavaScriptException();
    return nullptr;
  }
}

// A member function as a raw callback on its owner (the data pointer).
template <auto M>
napi_value Method(napi_env env, napi_callback_info cbinfo) {
  using Owner = typename MethodOf<decltype(M)>::Owner;
  return Invoke<Owner>(env, cbinfo, [](Owner* o, const Napi::CallbackInfo& info) { return (o->*M)(info); });
}

// A member function that serves several exports, told apart by its second argument: Method<M, kind>.
template <auto M, auto Kind>
napi_value Method(napi_env env, napi_callback_info cbinfo) {
  using Owner = typename MethodOf<decltype(M)>::Owner;
  return Invoke<Owner>(env, cbinfo, [](Owner* o, const Napi::CallbackInfo& info) { return (o->*M)(info, Kind); });
}

// Defines every export of `table` on `target`, as plain writable, enumerable properties (what
// `target.name = fn` would make), with `owner` as their data.
template <size_t N>
void DefineExports(Napi::Env env, Napi::Object target, void* owner, const Export (&table)[N]) {
  napi_property_descriptor props[N];
  for (size_t i = 0; i < N; ++i) {
    props[i] = {table[i].name, nullptr, table[i].callback, nullptr, nullptr, nullptr, napi_default_jsproperty, owner};
  }
  NAPI_THROW_IF_FAILED_VOID(env, napi_define_properties(env, target, N, props));
}

}  // namespace mpi4node
