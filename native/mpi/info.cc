// Info objects (lib/core/info.ts): MPI_Info handles of the Addon's infos_ table. lib/ has checked keys
// and values against MPI_MAX_INFO_KEY and MPI_MAX_INFO_VAL, so MPI's own errors here are its own.
#include <string>
#include <vector>

#include "addon.h"
#include "core/args.h"
#include "core/errors.h"
#include "core/exports.h"

namespace mpi4node {

Napi::Value Addon::InfoCreate(const Napi::CallbackInfo& info) {
  Args a(this, info);
  MPI_Info v;
  a.Check(MPI_Info_create(&v));
  return Napi::Number::New(a.env(), infos_.Add(v));
}

// infoSet(h, key, value)
Napi::Value Addon::InfoSet(const Napi::CallbackInfo& info) {
  Args a(this, info);
  MPI_Info v = a.Info(0);
  return a.Done(MPI_Info_set(v, a.String(1).c_str(), a.String(2).c_str()));
}

// infoGet(h, key) -> the value, or undefined when the key is not set.
Napi::Value Addon::InfoGet(const Napi::CallbackInfo& info) {
  Args a(this, info);
  MPI_Info v = a.Info(0);
  const std::string key = a.String(1);
  int len = 0, flag = 0;
  a.Check(MPI_Info_get_valuelen(v, key.c_str(), &len, &flag));
  if (!flag) return a.env().Undefined();
  std::vector<char> value(len + 1);
  a.Check(MPI_Info_get(v, key.c_str(), len, value.data(), &flag));
  return Napi::String::New(a.env(), value.data(), std::char_traits<char>::length(value.data()));
}

// infoDelete(h, key) -> whether the key was set.
Napi::Value Addon::InfoDelete(const Napi::CallbackInfo& info) {
  Args a(this, info);
  MPI_Info v = a.Info(0);
  const std::string key = a.String(1);
  int len = 0, flag = 0;
  a.Check(MPI_Info_get_valuelen(v, key.c_str(), &len, &flag));
  if (flag) a.Check(MPI_Info_delete(v, key.c_str()));
  return Napi::Boolean::New(a.env(), flag != 0);
}

// infoKeys(h) -> the keys, in MPI's order.
Napi::Value Addon::InfoKeys(const Napi::CallbackInfo& info) {
  Args a(this, info);
  MPI_Info v = a.Info(0);
  int n = 0;
  a.Check(MPI_Info_get_nkeys(v, &n));
  Napi::Array out = Napi::Array::New(a.env(), n);
  char key[MPI_MAX_INFO_KEY + 1];
  for (int i = 0; i < n; ++i) {
    a.Check(MPI_Info_get_nthkey(v, i, key));
    out.Set(static_cast<uint32_t>(i), Napi::String::New(a.env(), key));
  }
  return out;
}

Napi::Value Addon::InfoDup(const Napi::CallbackInfo& info) {
  Args a(this, info);
  MPI_Info out;
  a.Check(MPI_Info_dup(a.Info(0), &out));
  return Napi::Number::New(a.env(), infos_.Add(out));
}

Napi::Value Addon::InfoFree(const Napi::CallbackInfo& info) {
  Args a(this, info);
  a.Info(0);
  MPI_Info v = infos_.Take(a.Int(0));
  return a.Done(MPI_Info_free(&v));
}

void Addon::DefineInfo(Napi::Env env, Napi::Object exports) {
  static const Export table[] = {
      {"infoCreate", Method<&Addon::InfoCreate>},
      {"infoSet", Method<&Addon::InfoSet>},
      {"infoGet", Method<&Addon::InfoGet>},
      {"infoDelete", Method<&Addon::InfoDelete>},
      {"infoKeys", Method<&Addon::InfoKeys>},
      {"infoDup", Method<&Addon::InfoDup>},
      {"infoFree", Method<&Addon::InfoFree>},
  };
  DefineExports(env, exports, this, table);
}

}  // namespace mpi4node
