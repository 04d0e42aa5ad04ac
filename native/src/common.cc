#include "common.h"

#include <bpf/libbpf.h>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "addon_data.h"

namespace acg {

namespace {
thread_local LogScope* g_current = nullptr;
// Messages printed outside any LogScope; handed over with the next scope.
thread_local std::vector<LogLine>* g_orphans = nullptr;

int PrintFn(enum libbpf_print_level level, const char* fmt, va_list ap) {
  char buf[2048];
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(buf, sizeof(buf), fmt, ap2);
  va_end(ap2);
  std::string text;
  if (n >= static_cast<int>(sizeof(buf))) {
    std::vector<char> big(static_cast<size_t>(n) + 1);
    vsnprintf(big.data(), big.size(), fmt, ap);
    text.assign(big.data(), static_cast<size_t>(n));
  } else if (n > 0) {
    text.assign(buf, static_cast<size_t>(n));
  }
  if (g_current != nullptr) {
    g_current->Add(static_cast<int>(level), std::move(text));
  } else {
    if (g_orphans == nullptr) g_orphans = new std::vector<LogLine>();
    if (g_orphans->size() < 1000) g_orphans->push_back({static_cast<int>(level), std::move(text)});
  }
  return n < 0 ? 0 : n;
}
}  // namespace

void InstallLibbpfPrint() { libbpf_set_print(PrintFn); }

LogScope::LogScope(napi_env env) : env_(env), prev_(g_current) {
  g_current = this;
  if (g_orphans != nullptr && !g_orphans->empty()) {
    lines_ = std::move(*g_orphans);
    g_orphans->clear();
  }
}

LogScope::~LogScope() {
  g_current = prev_;
  if (prev_ != nullptr) {  // nested: pass our lines up instead of delivering twice
    for (auto& l : lines_) prev_->Add(l.level, l.text);
    return;
  }
  if (lines_.empty() || env_ == nullptr) return;
  AddonData* d = Data(Napi::Env(env_));
  if (d == nullptr || d->logCallback.IsEmpty()) return;
  // Raw N-API calls: must never throw from a destructor. A pending exception
  // (e.g. the error we are about to raise) is preserved around the calls.
  napi_env env = env_;
  napi_value pending = nullptr;
  bool hadPending = false;
  napi_is_exception_pending(env, &hadPending);
  if (hadPending) napi_get_and_clear_last_exception(env, &pending);
  napi_handle_scope hs;
  if (napi_open_handle_scope(env, &hs) == napi_ok) {
    napi_value fn = d->logCallback.Value();
    napi_value undef;
    napi_get_undefined(env, &undef);
    for (const auto& l : lines_) {
      napi_value argv[2];
      napi_create_int32(env, l.level, &argv[0]);
      napi_create_string_utf8(env, l.text.data(), l.text.size(), &argv[1]);
      napi_value res;
      if (napi_call_function(env, undef, fn, 2, argv, &res) != napi_ok) {
        napi_value ignored;
        napi_get_and_clear_last_exception(env, &ignored);  // a throwing logger is ignored
      }
    }
    napi_close_handle_scope(env, hs);
  }
  if (hadPending) napi_throw(env, pending);
}

void LogScope::Adopt(std::vector<LogLine> lines) {
  for (auto& l : lines) lines_.push_back(std::move(l));
}

std::string LogScope::Text() const {
  std::string out;
  for (const auto& l : lines_) out += l.text;
  return out;
}

Napi::Value SetLogCallback(const Napi::CallbackInfo& info) {
  AddonData* d = Data(info.Env());
  if (info.Length() < 1 || info[0].IsNull() || info[0].IsUndefined()) {
    d->logCallback.Reset();
    return info.Env().Undefined();
  }
  d->logCallback = Napi::Persistent(ArgFunction(info, 0, "callback"));
  return info.Env().Undefined();
}

std::string ErrnoCode(int err) {
  const char* name = strerrorname_np(err);
  if (name != nullptr) return name;
  // libbpf-private codes (4000+)
  switch (err) {
    case 4001: return "LIBBPF_ERRNO__LIBELF";
    case 4002: return "LIBBPF_ERRNO__FORMAT";
    case 4003: return "LIBBPF_ERRNO__KVERSION";
    case 4004: return "LIBBPF_ERRNO__ENDIAN";
    case 4005: return "LIBBPF_ERRNO__INTERNAL";
    case 4006: return "LIBBPF_ERRNO__RELOC";
    case 4007: return "LIBBPF_ERRNO__LOAD";
    case 4008: return "LIBBPF_ERRNO__VERIFY";
    case 4009: return "LIBBPF_ERRNO__PROG2BIG";
    case 4010: return "LIBBPF_ERRNO__KVER";
    case 4011: return "LIBBPF_ERRNO__PROGTYPE";
    case 4012: return "LIBBPF_ERRNO__WRNGPID";
    case 4013: return "LIBBPF_ERRNO__INVSEQ";
    case 4014: return "LIBBPF_ERRNO__NLPARSE";
    default: return "E" + std::to_string(err);
  }
}

Napi::Error MakeErrnoError(Napi::Env env, int err, const std::string& op, const std::string& detail, const std::string* verifierLog,
                           const LogScope* log) {
  if (err < 0) err = -err;
  if (err == 0) err = EINVAL;
  char ebuf[256];
  std::string desc;
  if (err >= 4000 && err < 4100) {
    libbpf_strerror(err, ebuf, sizeof(ebuf));
    desc = ebuf;
  } else {
    desc = strerror_r(err, ebuf, sizeof(ebuf));
  }
  std::string code = ErrnoCode(err);
  std::string msg = op + " failed: " + desc + " (" + code + ")";
  if (!detail.empty()) msg += ": " + detail;
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("code", Napi::String::New(env, code));
  e.Set("op", Napi::String::New(env, op));
  if (verifierLog != nullptr) e.Set("verifierLog", Napi::String::New(env, *verifierLog));
  if (log != nullptr) e.Set("libbpfLog", Napi::String::New(env, log->Text()));
  return e;
}

void ThrowErrno(Napi::Env env, int err, const std::string& op, const std::string& detail, const LogScope* log) {
  throw MakeErrnoError(env, err, op, detail, nullptr, log);
}

void ThrowType(Napi::Env env, const std::string& msg) { throw Napi::TypeError::New(env, msg); }

std::string ArgString(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsString()) ThrowType(info.Env(), std::string(what) + " must be a string");
  std::string s = info[i].As<Napi::String>().Utf8Value();
  if (s.find('\0') != std::string::npos) ThrowType(info.Env(), std::string(what) + " must not contain NUL characters");
  return s;
}

int64_t ArgInt(const Napi::CallbackInfo& info, size_t i, const char* what, int64_t min, int64_t max) {
  if (info.Length() <= i || !info[i].IsNumber()) ThrowType(info.Env(), std::string(what) + " must be an integer");
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (!(v == static_cast<double>(static_cast<int64_t>(v))) || v < static_cast<double>(min) || v > static_cast<double>(max))
    ThrowType(info.Env(), std::string(what) + " must be an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  return static_cast<int64_t>(v);
}

int ArgFd(const Napi::CallbackInfo& info, size_t i, const char* what) { return static_cast<int>(ArgInt(info, i, what, 0, INT32_MAX)); }

Napi::Buffer<uint8_t> ArgBuffer(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsBuffer()) ThrowType(info.Env(), std::string(what) + " must be a Buffer");
  return info[i].As<Napi::Buffer<uint8_t>>();
}

bool ArgBool(const Napi::CallbackInfo& info, size_t i, const char* what, bool dflt) {
  if (info.Length() <= i || info[i].IsUndefined()) return dflt;
  if (!info[i].IsBoolean()) ThrowType(info.Env(), std::string(what) + " must be a boolean");
  return info[i].As<Napi::Boolean>().Value();
}

Napi::Function ArgFunction(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsFunction()) ThrowType(info.Env(), std::string(what) + " must be a function");
  return info[i].As<Napi::Function>();
}

int64_t OptInt(Napi::Env env, const Napi::Object& o, const char* key, int64_t dflt, int64_t min, int64_t max) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  if (!v.IsNumber()) ThrowType(env, std::string("option '") + key + "' must be an integer");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d == static_cast<double>(static_cast<int64_t>(d))) || d < static_cast<double>(min) || d > static_cast<double>(max))
    ThrowType(env, std::string("option '") + key + "' must be an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  return static_cast<int64_t>(d);
}

bool OptBool(Napi::Env env, const Napi::Object& o, const char* key, bool dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  if (!v.IsBoolean()) ThrowType(env, std::string("option '") + key + "' must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

}  // namespace acg
