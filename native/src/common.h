// Shared helpers: argument validation, errno -> JS Error conversion, and
// capture of libbpf's own log output per operation.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

namespace acg {

// ---- libbpf log capture -------------------------------------------------
// libbpf prints through one global callback. We install ours once; while a
// LogScope is alive, messages printed on its thread are collected into it
// (synchronously inside libbpf calls). When the scope ends the messages are
// handed to the JS log callback, if one was set, and are available to
// attach to an error. Nothing is ever written to stderr. A worker thread
// (an asynchronous load) cannot call JS: its scope has no env, and its lines
// are moved with TakeLines() into a scope on the JS thread (Adopt()), which
// delivers them.
struct LogLine {
  int level;  // enum libbpf_print_level: 0 warn, 1 info, 2 debug
  std::string text;
};

class LogScope {
 public:
  explicit LogScope(napi_env env);  // nullptr: a worker thread's scope, which delivers nothing
  ~LogScope();
  LogScope(const LogScope&) = delete;
  LogScope& operator=(const LogScope&) = delete;
  std::string Text() const;  // all collected lines joined
  const std::vector<LogLine>& Lines() const { return lines_; }
  void Add(int level, std::string text) { lines_.push_back({level, std::move(text)}); }
  std::vector<LogLine> TakeLines() { return std::move(lines_); }
  void Adopt(std::vector<LogLine> lines);

 private:
  napi_env env_;
  LogScope* prev_;
  std::vector<LogLine> lines_;
};

void InstallLibbpfPrint();
Napi::Value SetLogCallback(const Napi::CallbackInfo& info);

// ---- errors --------------------------------------------------------------
// Builds an Error with .errno (positive), .code ('EINVAL'), .op, and, when
// given, .verifierLog and .libbpfLog.
Napi::Error MakeErrnoError(Napi::Env env, int err, const std::string& op, const std::string& detail = "",
                           const std::string* verifierLog = nullptr, const LogScope* log = nullptr);
[[noreturn]] void ThrowErrno(Napi::Env env, int err, const std::string& op, const std::string& detail = "", const LogScope* log = nullptr);
std::string ErrnoCode(int err);

// ---- argument validation (throw Napi::TypeError) -------------------------
[[noreturn]] void ThrowType(Napi::Env env, const std::string& msg);
std::string ArgString(const Napi::CallbackInfo& info, size_t i, const char* what);
int64_t ArgInt(const Napi::CallbackInfo& info, size_t i, const char* what, int64_t min, int64_t max);
int ArgFd(const Napi::CallbackInfo& info, size_t i, const char* what);
Napi::Buffer<uint8_t> ArgBuffer(const Napi::CallbackInfo& info, size_t i, const char* what);
bool ArgBool(const Napi::CallbackInfo& info, size_t i, const char* what, bool dflt);
Napi::Function ArgFunction(const Napi::CallbackInfo& info, size_t i, const char* what);

// Reads an optional integer property of an options object.
int64_t OptInt(Napi::Env env, const Napi::Object& o, const char* key, int64_t dflt, int64_t min, int64_t max);
bool OptBool(Napi::Env env, const Napi::Object& o, const char* key, bool dflt);

// Returns the libbpf-style errno for a NULL-returning libbpf call.
inline int LastErrno() { return errno ? errno : EINVAL; }

}  // namespace acg
