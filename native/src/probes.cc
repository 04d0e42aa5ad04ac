// Kernel feature probes: vmlinux BTF look-ups (types, struct members, FUNCs,
// enum values) and libbpf's program/map type probes.
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>

#include "addon_data.h"
#include "common.h"

namespace acg {

namespace {

// Loads /sys/kernel/btf/vmlinux once per environment; null if unavailable.
struct btf* Vmlinux(Napi::Env env) {
  AddonData* d = Data(env);
  if (!d->vmlinuxTried) {
    d->vmlinuxTried = true;
    LogScope log(env);
    errno = 0;
    d->vmlinux = btf__load_vmlinux_btf();
    if (d->vmlinux == nullptr) d->vmlinuxErr = LastErrno();
  }
  return d->vmlinux;
}

// Parses vmlinux BTF on libuv's thread pool, for the probes below to find it
// cached: the parse is most of a kernel probe's time (about 40 ms on the
// host, more under emulation), and acgd loads its modules meanwhile.
// libbpf's messages are collected on the worker and delivered on the JS
// thread, as LoadWorker's are.
class VmlinuxWorker : public Napi::AsyncWorker {
 public:
  explicit VmlinuxWorker(Napi::Env env) : Napi::AsyncWorker(env, "acg:btf__load_vmlinux_btf"), done_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() const { return done_.Promise(); }

 protected:
  void Execute() override {
    LogScope log(nullptr);
    errno = 0;
    btf_ = btf__load_vmlinux_btf();
    if (btf_ == nullptr) err_ = LastErrno();
    lines_ = log.TakeLines();
  }
  void OnOK() override {
    Napi::Env env = Env();
    LogScope log(env);
    log.Adopt(std::move(lines_));
    AddonData* d = Data(env);
    if (d->vmlinuxTried) {
      // A synchronous probe parsed it meanwhile: that copy stays.
      if (btf_ != nullptr) btf__free(btf_);
    } else {
      d->vmlinuxTried = true;
      d->vmlinux = btf_;
      d->vmlinuxErr = err_;
    }
    done_.Resolve(env.Undefined());
  }

 private:
  Napi::Promise::Deferred done_;
  struct btf* btf_ = nullptr;
  int err_ = 0;
  std::vector<LogLine> lines_;
};

// loadVmlinuxBtfAsync() -> Promise<void>, settled (never rejected) once
// vmlinux BTF is cached, or its failure is: btfAvailable() then says which.
Napi::Value LoadVmlinuxBtfAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (Data(env)->vmlinuxTried) {
    auto done = Napi::Promise::Deferred::New(env);
    done.Resolve(env.Undefined());
    return done.Promise();
  }
  auto* w = new VmlinuxWorker(env);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

struct btf* RequireVmlinux(Napi::Env env) {
  struct btf* b = Vmlinux(env);
  if (b == nullptr) ThrowErrno(env, Data(env)->vmlinuxErr, "btf__load_vmlinux_btf");
  return b;
}

int KindByName(Napi::Env env, const std::string& k) {
  if (k == "struct") return BTF_KIND_STRUCT;
  if (k == "union") return BTF_KIND_UNION;
  if (k == "enum") return BTF_KIND_ENUM;
  if (k == "enum64") return BTF_KIND_ENUM64;
  if (k == "typedef") return BTF_KIND_TYPEDEF;
  if (k == "func") return BTF_KIND_FUNC;
  if (k == "int") return BTF_KIND_INT;
  if (k == "var") return BTF_KIND_VAR;
  if (k == "datasec") return BTF_KIND_DATASEC;
  ThrowType(env, "kind must be one of struct, union, enum, enum64, typedef, func, int, var, datasec");
}

// btfAvailable() -> { available: boolean, errno?: number, code?: string }
Napi::Value BtfAvailable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  bool ok = Vmlinux(env) != nullptr;
  o.Set("available", ok);
  if (!ok) {
    o.Set("errno", Data(env)->vmlinuxErr);
    o.Set("code", ErrnoCode(Data(env)->vmlinuxErr));
  }
  return o;
}

// btfHasType(name, kind = "struct") -> boolean
Napi::Value BtfHasType(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ArgString(info, 0, "type name");
  std::string kind = info.Length() > 1 && !info[1].IsUndefined() ? ArgString(info, 1, "kind") : "struct";
  int k = KindByName(env, kind);
  struct btf* b = RequireVmlinux(env);
  int id = btf__find_by_name_kind(b, name.c_str(), static_cast<__u32>(k));
  if (id < 0 && k == BTF_KIND_ENUM) id = btf__find_by_name_kind(b, name.c_str(), BTF_KIND_ENUM64);
  return Napi::Boolean::New(env, id > 0);
}

// btfHasMember(structName, memberName) -> boolean (struct or union)
Napi::Value BtfHasMember(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string sname = ArgString(info, 0, "struct name");
  std::string mname = ArgString(info, 1, "member name");
  struct btf* b = RequireVmlinux(env);
  int id = btf__find_by_name_kind(b, sname.c_str(), BTF_KIND_STRUCT);
  if (id < 0) id = btf__find_by_name_kind(b, sname.c_str(), BTF_KIND_UNION);
  if (id < 0) return Napi::Boolean::New(env, false);
  const struct btf_type* t = btf__type_by_id(b, static_cast<__u32>(id));
  if (t == nullptr) return Napi::Boolean::New(env, false);
  const struct btf_member* m = btf_members(t);
  for (unsigned i = 0; i < btf_vlen(t); i++, m++) {
    const char* n = btf__name_by_offset(b, m->name_off);
    if (n != nullptr && mname == n) return Napi::Boolean::New(env, true);
  }
  return Napi::Boolean::New(env, false);
}

// btfStructMembers(structName) -> [{ name, params }] | null: each member of a
// struct in vmlinux BTF; params is the parameter count of a member that is a
// pointer to a function (a struct_ops callback), null for any other member.
// What struct_ops objects probe to choose between layouts of one struct.
Napi::Value BtfStructMembers(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string sname = ArgString(info, 0, "struct name");
  struct btf* b = RequireVmlinux(env);
  int id = btf__find_by_name_kind(b, sname.c_str(), BTF_KIND_STRUCT);
  if (id < 0) return env.Null();
  const struct btf_type* t = btf__type_by_id(b, static_cast<__u32>(id));
  if (t == nullptr) return env.Null();
  Napi::Array out = Napi::Array::New(env, btf_vlen(t));
  const struct btf_member* m = btf_members(t);
  for (unsigned i = 0; i < btf_vlen(t); i++, m++) {
    Napi::Object o = Napi::Object::New(env);
    const char* n = btf__name_by_offset(b, m->name_off);
    o.Set("name", Napi::String::New(env, n != nullptr ? n : ""));
    int mid = btf__resolve_type(b, m->type);
    const struct btf_type* mt = mid > 0 ? btf__type_by_id(b, static_cast<__u32>(mid)) : nullptr;
    const struct btf_type* proto = nullptr;
    if (mt != nullptr && btf_is_ptr(mt)) {
      int pid = btf__resolve_type(b, mt->type);
      if (pid > 0) proto = btf__type_by_id(b, static_cast<__u32>(pid));
    }
    if (proto != nullptr && btf_is_func_proto(proto))
      o.Set("params", Napi::Number::New(env, btf_vlen(proto)));
    else
      o.Set("params", env.Null());
    out.Set(i, o);
  }
  return out;
}

// btfEnumValue(enumName, valueName) -> number | null
Napi::Value BtfEnumValue(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string ename = ArgString(info, 0, "enum name");
  std::string vname = ArgString(info, 1, "value name");
  struct btf* b = RequireVmlinux(env);
  int id = btf__find_by_name_kind(b, ename.c_str(), BTF_KIND_ENUM);
  if (id > 0) {
    const struct btf_type* t = btf__type_by_id(b, static_cast<__u32>(id));
    const struct btf_enum* e = btf_enum(t);
    for (unsigned i = 0; i < btf_vlen(t); i++, e++) {
      const char* n = btf__name_by_offset(b, e->name_off);
      if (n != nullptr && vname == n) return Napi::Number::New(env, static_cast<double>(e->val));
    }
    return env.Null();
  }
  id = btf__find_by_name_kind(b, ename.c_str(), BTF_KIND_ENUM64);
  if (id > 0) {
    const struct btf_type* t = btf__type_by_id(b, static_cast<__u32>(id));
    const struct btf_enum64* e = btf_enum64(t);
    for (unsigned i = 0; i < btf_vlen(t); i++, e++) {
      const char* n = btf__name_by_offset(b, e->name_off);
      if (n != nullptr && vname == n) return Napi::Number::New(env, static_cast<double>(btf_enum64_value(e)));
    }
  }
  return env.Null();
}

// probeProgType(type: number) -> boolean
Napi::Value ProbeProgType(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t t = ArgInt(info, 0, "program type", 0, 1000);
  LogScope log(env);
  int r = libbpf_probe_bpf_prog_type(static_cast<enum bpf_prog_type>(t), nullptr);
  if (r < 0 && r != -EOPNOTSUPP && r != -EINVAL) ThrowErrno(env, r, "libbpf_probe_bpf_prog_type", "", &log);
  return Napi::Boolean::New(env, r > 0);
}

// probeMapType(type: number) -> boolean
Napi::Value ProbeMapType(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t t = ArgInt(info, 0, "map type", 0, 1000);
  LogScope log(env);
  int r = libbpf_probe_bpf_map_type(static_cast<enum bpf_map_type>(t), nullptr);
  if (r < 0 && r != -EOPNOTSUPP && r != -EINVAL) ThrowErrno(env, r, "libbpf_probe_bpf_map_type", "", &log);
  return Napi::Boolean::New(env, r > 0);
}

// progTypes()/mapTypes() -> { [name]: number } as known to this libbpf
Napi::Value ProgTypes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  for (int i = 0; i < 256; i++) {
    const char* n = libbpf_bpf_prog_type_str(static_cast<enum bpf_prog_type>(i));
    if (n != nullptr) o.Set(n, i);
  }
  return o;
}

Napi::Value MapTypes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  for (int i = 0; i < 256; i++) {
    const char* n = libbpf_bpf_map_type_str(static_cast<enum bpf_map_type>(i));
    if (n != nullptr) o.Set(n, i);
  }
  return o;
}

}  // namespace

void InitProbes(Napi::Env env, Napi::Object exports) {
  exports.Set("loadVmlinuxBtfAsync", Napi::Function::New(env, LoadVmlinuxBtfAsync, "loadVmlinuxBtfAsync"));
  exports.Set("btfAvailable", Napi::Function::New(env, BtfAvailable, "btfAvailable"));
  exports.Set("btfHasType", Napi::Function::New(env, BtfHasType, "btfHasType"));
  exports.Set("btfHasMember", Napi::Function::New(env, BtfHasMember, "btfHasMember"));
  exports.Set("btfStructMembers", Napi::Function::New(env, BtfStructMembers, "btfStructMembers"));
  exports.Set("btfEnumValue", Napi::Function::New(env, BtfEnumValue, "btfEnumValue"));
  exports.Set("probeProgType", Napi::Function::New(env, ProbeProgType, "probeProgType"));
  exports.Set("probeMapType", Napi::Function::New(env, ProbeMapType, "probeMapType"));
  exports.Set("progTypes", Napi::Function::New(env, ProgTypes, "progTypes"));
  exports.Set("mapTypes", Napi::Function::New(env, MapTypes, "mapTypes"));
}

}  // namespace acg
