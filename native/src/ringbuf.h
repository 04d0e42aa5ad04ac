// NativeRingBuffer: consumes a BPF ring buffer map without blocking the
// event loop (ring_buffer__epoll_fd watched by a uv_poll handle).
#pragma once

#include <napi.h>

namespace acg {

struct RingState;

class NativeRingBuffer : public Napi::ObjectWrap<NativeRingBuffer> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  explicit NativeRingBuffer(const Napi::CallbackInfo& info);
  ~NativeRingBuffer() override;

  void Deliver();  // called by the poll callback: consume and call JS

 private:
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Consume(const Napi::CallbackInfo& info);
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);
  Napi::Value IsClosed(const Napi::CallbackInfo& info);
  int DrainAndCall(Napi::Env env, bool fromPoll);
  void Shutdown();

  RingState* st_ = nullptr;
  Napi::FunctionReference callback_;
  Napi::AsyncContext* async_ = nullptr;
  bool selfRef_ = false;
};

}  // namespace acg
