#include "link.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cerrno>
#include <cstring>

#include "addon_data.h"
#include "common.h"

namespace acg {

void NativeLink::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "NativeLink",
                                    {
                                        InstanceMethod("fd", &NativeLink::Fd),
                                        InstanceMethod("kind", &NativeLink::Kind),
                                        InstanceMethod("pin", &NativeLink::Pin),
                                        InstanceMethod("unpin", &NativeLink::Unpin),
                                        InstanceMethod("pinPath", &NativeLink::PinPath),
                                        InstanceMethod("detach", &NativeLink::Detach),
                                        InstanceMethod("disconnect", &NativeLink::Disconnect),
                                        InstanceMethod("destroy", &NativeLink::Destroy),
                                        InstanceMethod("info", &NativeLink::Info),
                                        InstanceMethod("isClosed", &NativeLink::IsClosed),
                                    });
  Data(env)->linkCtor = Napi::Persistent(ctor);
  exports.Set("NativeLink", ctor);
}

Napi::Object NativeLink::Wrap(Napi::Env env, struct bpf_link* link, const std::string& kind) {
  Napi::Object o = Data(env)->linkCtor.New({Napi::External<struct bpf_link>::New(env, link), Napi::String::New(env, kind)});
  return o;
}

// new NativeLink(path: string)         -> bpf_link__open(path) (re-adopt a pinned link)
// new NativeLink(External, kind)       -> internal
NativeLink::NativeLink(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeLink>(info) {
  Napi::Env env = info.Env();
  if (info.Length() >= 1 && info[0].IsExternal()) {
    link_ = info[0].As<Napi::External<struct bpf_link>>().Data();
    kind_ = info.Length() >= 2 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "unknown";
    return;
  }
  std::string path = ArgString(info, 0, "path");
  LogScope log(env);
  errno = 0;
  struct bpf_link* l = bpf_link__open(path.c_str());
  if (l == nullptr) ThrowErrno(env, LastErrno(), "bpf_link__open", path, &log);
  link_ = l;
  kind_ = "pinned";
}

NativeLink::~NativeLink() {
  if (link_ != nullptr) {
    // Finalizer: frees the link. A pinned link stays attached through its pin.
    bpf_link__destroy(link_);
    link_ = nullptr;
  }
}

struct bpf_link* NativeLink::Get(const Napi::Env& env, const char* op) {
  if (link_ == nullptr) ThrowErrno(env, EBADF, op, "link is destroyed");
  return link_;
}

Napi::Value NativeLink::Fd(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), bpf_link__fd(Get(info.Env(), "bpf_link__fd")));
}

Napi::Value NativeLink::Kind(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), kind_); }

Napi::Value NativeLink::Pin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = ArgString(info, 0, "path");
  struct bpf_link* l = Get(env, "bpf_link__pin");
  LogScope log(env);
  int err = bpf_link__pin(l, path.c_str());
  if (err) ThrowErrno(env, err, "bpf_link__pin", path, &log);
  return env.Undefined();
}

Napi::Value NativeLink::Unpin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct bpf_link* l = Get(env, "bpf_link__unpin");
  LogScope log(env);
  int err = bpf_link__unpin(l);
  if (err) ThrowErrno(env, err, "bpf_link__unpin", "", &log);
  return env.Undefined();
}

Napi::Value NativeLink::PinPath(const Napi::CallbackInfo& info) {
  const char* p = bpf_link__pin_path(Get(info.Env(), "bpf_link__pin_path"));
  if (p == nullptr) return info.Env().Null();
  return Napi::String::New(info.Env(), p);
}

// Detaches the link from its hook while keeping the fd (BPF_LINK_DETACH);
// for a struct_ops link this unregisters the ops (e.g. the scheduler).
Napi::Value NativeLink::Detach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct bpf_link* l = Get(env, "bpf_link__detach");
  LogScope log(env);
  int err = bpf_link__detach(l);
  if (err) ThrowErrno(env, err, "bpf_link__detach", "", &log);
  return env.Undefined();
}

// After disconnect(), destroying the link only closes the fd (no detach);
// used to leave a pinned link in place when the process exits.
Napi::Value NativeLink::Disconnect(const Napi::CallbackInfo& info) {
  bpf_link__disconnect(Get(info.Env(), "bpf_link__disconnect"));
  return info.Env().Undefined();
}

Napi::Value NativeLink::Destroy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (link_ == nullptr) return env.Undefined();  // idempotent
  LogScope log(env);
  int err = bpf_link__destroy(link_);
  link_ = nullptr;
  if (err) ThrowErrno(env, err, "bpf_link__destroy", "", &log);
  return env.Undefined();
}

Napi::Value NativeLink::IsClosed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), link_ == nullptr); }

static const char* LinkTypeName(uint32_t t) {
  switch (t) {
    case BPF_LINK_TYPE_RAW_TRACEPOINT: return "raw_tracepoint";
    case BPF_LINK_TYPE_TRACING: return "tracing";
    case BPF_LINK_TYPE_CGROUP: return "cgroup";
    case BPF_LINK_TYPE_ITER: return "iter";
    case BPF_LINK_TYPE_NETNS: return "netns";
    case BPF_LINK_TYPE_XDP: return "xdp";
    case BPF_LINK_TYPE_PERF_EVENT: return "perf_event";
    case BPF_LINK_TYPE_KPROBE_MULTI: return "kprobe_multi";
    case BPF_LINK_TYPE_STRUCT_OPS: return "struct_ops";
    case BPF_LINK_TYPE_NETFILTER: return "netfilter";
    case BPF_LINK_TYPE_TCX: return "tcx";
    case BPF_LINK_TYPE_UPROBE_MULTI: return "uprobe_multi";
    case BPF_LINK_TYPE_NETKIT: return "netkit";
    default: return "unknown";
  }
}

// info() -> { id, type, typeName, progId, attached, structOpsMapId?, cgroupId?,
//             attachType?, tracingTargetBtfId? }
// `attached` is the kernel's view: for struct_ops links the ops map is still
// bound (map_id != 0); for cgroup links the cgroup is still set; otherwise
// true while the link exists (detached tracing links report prog_id 0).
Napi::Value NativeLink::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct bpf_link* l = Get(env, "bpf_link_get_info_by_fd");
  struct bpf_link_info li;
  memset(&li, 0, sizeof(li));
  __u32 len = sizeof(li);
  int err = bpf_link_get_info_by_fd(bpf_link__fd(l), &li, &len);
  if (err) ThrowErrno(env, err, "bpf_link_get_info_by_fd");
  Napi::Object o = Napi::Object::New(env);
  o.Set("id", li.id);
  o.Set("type", li.type);
  o.Set("typeName", LinkTypeName(li.type));
  o.Set("progId", li.prog_id);
  bool attached = true;
  if (li.type == BPF_LINK_TYPE_STRUCT_OPS) {
    o.Set("structOpsMapId", li.struct_ops.map_id);
    attached = li.struct_ops.map_id != 0;
  } else if (li.type == BPF_LINK_TYPE_CGROUP) {
    o.Set("cgroupId", Napi::BigInt::New(env, static_cast<uint64_t>(li.cgroup.cgroup_id)));
    o.Set("attachType", li.cgroup.attach_type);
    attached = li.cgroup.cgroup_id != 0;
  } else if (li.type == BPF_LINK_TYPE_TRACING) {
    o.Set("attachType", li.tracing.attach_type);
    o.Set("tracingTargetBtfId", li.tracing.target_btf_id);
    attached = li.prog_id != 0;
  } else {
    attached = li.prog_id != 0;
  }
  o.Set("attached", attached);
  return o;
}

}  // namespace acg
