// NativeObject: one libbpf bpf_object opened from a file or a Buffer, with
// its programs and maps; load with verifier-log capture; attach helpers.
#pragma once

#include <napi.h>

#include <map>
#include <string>
#include <vector>

#include "common.h"

struct bpf_object;
struct bpf_map;
struct bpf_program;

namespace acg {

class NativeObject : public Napi::ObjectWrap<NativeObject> {
  friend class LoadWorker;

 public:
  static void Init(Napi::Env env, Napi::Object exports);
  explicit NativeObject(const Napi::CallbackInfo& info);
  ~NativeObject() override;

 private:
  struct bpf_object* Obj(const Napi::Env& env, const char* op);
  struct bpf_map* FindMap(const Napi::Env& env, const std::string& name, const char* op);
  struct bpf_program* FindProg(const Napi::Env& env, const std::string& name, const char* op);
  void RequireLoaded(const Napi::Env& env, const char* op, bool loaded);

  Napi::Value Name(const Napi::CallbackInfo& info);
  Napi::Value Programs(const Napi::CallbackInfo& info);
  Napi::Value Maps(const Napi::CallbackInfo& info);
  Napi::Value MapInfo(const Napi::CallbackInfo& info);
  Napi::Value SetInitialValue(const Napi::CallbackInfo& info);
  Napi::Value InitialValue(const Napi::CallbackInfo& info);
  Napi::Value SetAutoload(const Napi::CallbackInfo& info);
  Napi::Value SetAutocreate(const Napi::CallbackInfo& info);
  Napi::Value SetMaxEntries(const Napi::CallbackInfo& info);
  Napi::Value ReuseMapFd(const Napi::CallbackInfo& info);
  Napi::Value Load(const Napi::CallbackInfo& info);
  Napi::Value LoadAsync(const Napi::CallbackInfo& info);
  Napi::Value IsLoaded(const Napi::CallbackInfo& info);
  Napi::Value VerifierLog(const Napi::CallbackInfo& info);
  Napi::Value ProgramStats(const Napi::CallbackInfo& info);
  Napi::Value MapFd(const Napi::CallbackInfo& info);
  Napi::Value ProgramFd(const Napi::CallbackInfo& info);
  Napi::Value AttachStructOps(const Napi::CallbackInfo& info);
  Napi::Value AttachProgram(const Napi::CallbackInfo& info);
  Napi::Value AttachCgroup(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value IsClosed(const Napi::CallbackInfo& info);

  Napi::Object DescribeMap(Napi::Env env, struct bpf_map* m);
  // bpf_object__load itself (where the kernel's verifier runs): touches only
  // this object's libbpf state and buffers, so it may run on a worker thread.
  int LoadObject();
  // Back on the JS thread: records a successful load, or returns the error
  // of a failed one (the object is then closed: libbpf cannot retry).
  Napi::Error LoadResult(Napi::Env env, int err, const LogScope& log);
  // Completes an asynchronous load (LoadWorker) on the JS thread.
  void LoadAsyncDone(Napi::Env env, int err, std::vector<LogLine> lines, const Napi::Promise::Deferred& done);

  struct bpf_object* obj_ = nullptr;
  bool loaded_ = false;
  // While a worker thread runs bpf_object__load, every other use of obj_ is
  // refused (EBUSY) and close() is deferred until the load returns.
  bool loading_ = false;
  bool closeAfterLoad_ = false;
  bool collectStats_ = false;
  double loadTimeNs_ = 0;
  std::vector<uint8_t> mem_;                           // copy of the ELF when opened from a Buffer
  std::vector<char> log_;                              // object-wide kernel (verifier) log buffer
  std::map<std::string, std::vector<char>> progLogs_;  // per-program stats logs
};

}  // namespace acg
