// NativeLink: one libbpf bpf_link (struct_ops, tracing, cgroup, or a pinned
// link re-adopted with bpf_link__open). Destroyed on close() or by the GC.
#pragma once

#include <napi.h>

struct bpf_link;

namespace acg {

class NativeLink : public Napi::ObjectWrap<NativeLink> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  // Wraps an already created libbpf link (ownership moves to the JS object).
  static Napi::Object Wrap(Napi::Env env, struct bpf_link* link, const std::string& kind);
  explicit NativeLink(const Napi::CallbackInfo& info);
  ~NativeLink() override;

 private:
  struct bpf_link* Get(const Napi::Env& env, const char* op);
  Napi::Value Fd(const Napi::CallbackInfo& info);
  Napi::Value Kind(const Napi::CallbackInfo& info);
  Napi::Value Pin(const Napi::CallbackInfo& info);
  Napi::Value Unpin(const Napi::CallbackInfo& info);
  Napi::Value PinPath(const Napi::CallbackInfo& info);
  Napi::Value Detach(const Napi::CallbackInfo& info);
  Napi::Value Disconnect(const Napi::CallbackInfo& info);
  Napi::Value Destroy(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value IsClosed(const Napi::CallbackInfo& info);

  struct bpf_link* link_ = nullptr;
  std::string kind_;
};

}  // namespace acg
