#include "ringbuf.h"

#include <bpf/libbpf.h>
#include <uv.h>

#include <cerrno>
#include <vector>

#include "common.h"

namespace acg {

// Lives until libuv's close callback: the uv_poll handle memory must stay
// valid after the JS object is gone.
struct RingState {
  uv_poll_t poll;
  struct ring_buffer* rb = nullptr;
  NativeRingBuffer* owner = nullptr;  // null once the JS side is closed/finalized
  std::vector<std::vector<uint8_t>> pending;
  bool closed = false;
  bool pollStarted = false;
};

namespace {

int OnSample(void* ctx, void* data, size_t size) {
  auto* st = static_cast<RingState*>(ctx);
  const auto* p = static_cast<const uint8_t*>(data);
  st->pending.emplace_back(p, p + size);
  return 0;
}

void OnClosed(uv_handle_t* h) {
  auto* st = static_cast<RingState*>(h->data);
  if (st->rb != nullptr) ring_buffer__free(st->rb);
  delete st;
}

void OnPoll(uv_poll_t* h, int status, int events) {
  auto* st = static_cast<RingState*>(h->data);
  if (st->closed || st->owner == nullptr) return;
  st->owner->Deliver();
}

}  // namespace

void NativeRingBuffer::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "NativeRingBuffer",
                                    {
                                        InstanceMethod("close", &NativeRingBuffer::Close),
                                        InstanceMethod("consume", &NativeRingBuffer::Consume),
                                        InstanceMethod("ref", &NativeRingBuffer::Ref),
                                        InstanceMethod("unref", &NativeRingBuffer::Unref),
                                        InstanceMethod("isClosed", &NativeRingBuffer::IsClosed),
                                    });
  exports.Set("NativeRingBuffer", ctor);
}

// new NativeRingBuffer(mapFd, (record: Buffer) => void)
NativeRingBuffer::NativeRingBuffer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeRingBuffer>(info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "map fd");
  Napi::Function cb = ArgFunction(info, 1, "callback");
  auto* st = new RingState();
  {
    LogScope log(env);
    errno = 0;
    st->rb = ring_buffer__new(fd, OnSample, st, nullptr);
    if (st->rb == nullptr) {
      int err = LastErrno();
      delete st;
      ThrowErrno(env, err, "ring_buffer__new", "", &log);
    }
  }
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    ring_buffer__free(st->rb);
    delete st;
    ThrowErrno(env, EINVAL, "napi_get_uv_event_loop");
  }
  int r = uv_poll_init(loop, &st->poll, ring_buffer__epoll_fd(st->rb));
  if (r != 0) {
    ring_buffer__free(st->rb);
    delete st;
    ThrowErrno(env, -r, "uv_poll_init");
  }
  st->poll.data = st;
  st->owner = this;
  st_ = st;
  r = uv_poll_start(&st->poll, UV_READABLE, OnPoll);
  if (r != 0) {
    Shutdown();
    ThrowErrno(env, -r, "uv_poll_start");
  }
  st->pollStarted = true;
  callback_ = Napi::Persistent(cb);
  async_ = new Napi::AsyncContext(env, "acg:ringbuf");
  // Stay alive (not collected) while open, like a socket.
  Napi::ObjectWrap<NativeRingBuffer>::Ref();
  selfRef_ = true;
}

void NativeRingBuffer::Shutdown() {
  if (st_ == nullptr) return;
  RingState* st = st_;
  st_ = nullptr;
  st->closed = true;
  st->owner = nullptr;
  if (st->pollStarted) uv_poll_stop(&st->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(&st->poll), OnClosed);
}

NativeRingBuffer::~NativeRingBuffer() {
  Shutdown();
  delete async_;
  async_ = nullptr;
}

// Consumes what is available and calls the JS callback once per record.
// Returns the number of records delivered.
int NativeRingBuffer::DrainAndCall(Napi::Env env, bool fromPoll) {
  if (st_ == nullptr) return 0;
  RingState* st = st_;
  int n = ring_buffer__consume(st->rb);
  if (n < 0 && !fromPoll) ThrowErrno(env, n, "ring_buffer__consume");
  std::vector<std::vector<uint8_t>> recs;
  recs.swap(st->pending);
  int delivered = 0;
  for (auto& rec : recs) {
    if (st->closed) break;  // closed from inside the callback
    Napi::HandleScope scope(env);
    Napi::Buffer<uint8_t> buf = Napi::Buffer<uint8_t>::Copy(env, rec.data(), rec.size());
    if (fromPoll) {
      try {
        callback_.MakeCallback(Value(), {buf}, *async_);
      } catch (const Napi::Error& e) {
        // A throwing JS callback becomes an uncaught exception, as for any
        // other event-emitter callback.
        napi_fatal_exception(env, e.Value());
        return delivered;
      }
    } else {
      callback_.Call(Value(), {buf});
    }
    delivered++;
  }
  return delivered;
}

void NativeRingBuffer::Deliver() {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  DrainAndCall(env, true);
}

Napi::Value NativeRingBuffer::Consume(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (st_ == nullptr) ThrowErrno(env, EBADF, "ring_buffer__consume", "ring buffer is closed");
  return Napi::Number::New(env, DrainAndCall(env, false));
}

Napi::Value NativeRingBuffer::Close(const Napi::CallbackInfo& info) {
  Shutdown();
  if (selfRef_) {
    selfRef_ = false;
    Napi::ObjectWrap<NativeRingBuffer>::Unref();
  }
  return info.Env().Undefined();
}

Napi::Value NativeRingBuffer::Ref(const Napi::CallbackInfo& info) {
  if (st_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(&st_->poll));
  return info.Env().Undefined();
}

Napi::Value NativeRingBuffer::Unref(const Napi::CallbackInfo& info) {
  if (st_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(&st_->poll));
  return info.Env().Undefined();
}

Napi::Value NativeRingBuffer::IsClosed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), st_ == nullptr); }

}  // namespace acg
