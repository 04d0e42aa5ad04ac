#include "object.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <regex>

#include "addon_data.h"
#include "common.h"
#include "link.h"

namespace acg {

namespace {
constexpr int64_t kDefaultLogSize = 1 << 20;          // failure logs (rotating on 6.4+ kernels)
constexpr int64_t kDefaultVerboseLogSize = 16 << 20;  // when logLevel > 0 on success
constexpr size_t kStatsLogSize = 64 << 10;            // per program, log_level 4

double NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

std::string BufString(const std::vector<char>& b) {
  if (b.empty()) return "";
  return std::string(b.data(), strnlen(b.data(), b.size()));
}

const char* Str(const char* s) { return s != nullptr ? s : "unknown"; }

std::string MapSection(struct bpf_map* m) {
  if (bpf_map__type(m) == BPF_MAP_TYPE_STRUCT_OPS) return (bpf_map__map_flags(m) & BPF_F_LINK) ? ".struct_ops.link" : ".struct_ops";
  if (bpf_map__is_internal(m)) {
    std::string n = bpf_map__name(m);
    size_t dot = n.find('.');
    return dot == std::string::npos ? n : n.substr(dot);
  }
  return ".maps";
}
}  // namespace

void NativeObject::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "NativeObject",
                                    {
                                        InstanceMethod("name", &NativeObject::Name),
                                        InstanceMethod("programs", &NativeObject::Programs),
                                        InstanceMethod("maps", &NativeObject::Maps),
                                        InstanceMethod("mapInfo", &NativeObject::MapInfo),
                                        InstanceMethod("setInitialValue", &NativeObject::SetInitialValue),
                                        InstanceMethod("initialValue", &NativeObject::InitialValue),
                                        InstanceMethod("setAutoload", &NativeObject::SetAutoload),
                                        InstanceMethod("setAutocreate", &NativeObject::SetAutocreate),
                                        InstanceMethod("setMaxEntries", &NativeObject::SetMaxEntries),
                                        InstanceMethod("reuseMapFd", &NativeObject::ReuseMapFd),
                                        InstanceMethod("load", &NativeObject::Load),
                                        InstanceMethod("loadAsync", &NativeObject::LoadAsync),
                                        InstanceMethod("isLoaded", &NativeObject::IsLoaded),
                                        InstanceMethod("verifierLog", &NativeObject::VerifierLog),
                                        InstanceMethod("programStats", &NativeObject::ProgramStats),
                                        InstanceMethod("mapFd", &NativeObject::MapFd),
                                        InstanceMethod("programFd", &NativeObject::ProgramFd),
                                        InstanceMethod("attachStructOps", &NativeObject::AttachStructOps),
                                        InstanceMethod("attachProgram", &NativeObject::AttachProgram),
                                        InstanceMethod("attachCgroup", &NativeObject::AttachCgroup),
                                        InstanceMethod("close", &NativeObject::Close),
                                        InstanceMethod("isClosed", &NativeObject::IsClosed),
                                    });
  Data(env)->objectCtor = Napi::Persistent(ctor);
  exports.Set("NativeObject", ctor);
}

// new NativeObject(source: string | Buffer, opts?: { objectName?, logLevel?,
//                  logSize?, collectStats?, pinRoot? })
NativeObject::NativeObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeObject>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !(info[0].IsString() || info[0].IsBuffer()))
    ThrowType(env, "source must be a file path (string) or a Buffer holding a BPF ELF object");
  Napi::Object opts = Napi::Object::New(env);
  if (info.Length() >= 2 && !info[1].IsUndefined() && !info[1].IsNull()) {
    if (!info[1].IsObject()) ThrowType(env, "options must be an object");
    opts = info[1].As<Napi::Object>();
  }
  int64_t logLevel = OptInt(env, opts, "logLevel", 0, 0, 0x1f);
  int64_t logSize = OptInt(env, opts, "logSize", logLevel ? kDefaultVerboseLogSize : kDefaultLogSize, 4096, 1LL << 30);
  collectStats_ = OptBool(env, opts, "collectStats", false);
  std::string objName, pinRoot;
  Napi::Value v = opts.Get("objectName");
  if (!v.IsUndefined() && !v.IsNull()) {
    if (!v.IsString()) ThrowType(env, "option 'objectName' must be a string");
    objName = v.As<Napi::String>().Utf8Value();
  }
  v = opts.Get("pinRoot");
  if (!v.IsUndefined() && !v.IsNull()) {
    if (!v.IsString()) ThrowType(env, "option 'pinRoot' must be a string");
    pinRoot = v.As<Napi::String>().Utf8Value();
  }

  log_.assign(static_cast<size_t>(logSize), '\0');
  LIBBPF_OPTS(bpf_object_open_opts, oo);
  oo.kernel_log_buf = log_.data();
  oo.kernel_log_size = log_.size();
  oo.kernel_log_level = static_cast<__u32>(logLevel);
  if (!objName.empty()) oo.object_name = objName.c_str();
  if (!pinRoot.empty()) oo.pin_root_path = pinRoot.c_str();

  LogScope log(env);
  errno = 0;
  struct bpf_object* o;
  std::string what;
  if (info[0].IsString()) {
    what = info[0].As<Napi::String>().Utf8Value();
    o = bpf_object__open_file(what.c_str(), &oo);
  } else {
    auto buf = info[0].As<Napi::Buffer<uint8_t>>();
    if (buf.Length() == 0) ThrowType(env, "source Buffer is empty");
    mem_.assign(buf.Data(), buf.Data() + buf.Length());
    what = "<buffer of " + std::to_string(mem_.size()) + " bytes>";
    o = bpf_object__open_mem(mem_.data(), mem_.size(), &oo);
  }
  if (o == nullptr) {
    int err = LastErrno();
    throw MakeErrnoError(env, err, info[0].IsString() ? "bpf_object__open_file" : "bpf_object__open_mem", what, nullptr, &log);
  }
  obj_ = o;
  if (collectStats_) {
    struct bpf_program* p;
    bpf_object__for_each_program(p, obj_) {
      auto& b = progLogs_[bpf_program__name(p)];
      b.assign(kStatsLogSize, '\0');
      bpf_program__set_log_buf(p, b.data(), b.size());
      bpf_program__set_log_level(p, static_cast<__u32>(logLevel) | 4 /* BPF_LOG_STATS */);
    }
  }
}

NativeObject::~NativeObject() {
  if (obj_ != nullptr) bpf_object__close(obj_);
  obj_ = nullptr;
}

struct bpf_object* NativeObject::Obj(const Napi::Env& env, const char* op) {
  if (loading_) ThrowErrno(env, EBUSY, op, closeAfterLoad_ ? "object is closed (its load is finishing)" : "object is loading");
  if (obj_ == nullptr) ThrowErrno(env, EBADF, op, "object is closed");
  return obj_;
}

void NativeObject::RequireLoaded(const Napi::Env& env, const char* op, bool loaded) {
  if (loaded_ != loaded) ThrowErrno(env, loaded ? ENOENT : EBUSY, op, loaded ? "object is not loaded yet" : "object is already loaded");
}

struct bpf_map* NativeObject::FindMap(const Napi::Env& env, const std::string& name, const char* op) {
  struct bpf_object* o = Obj(env, op);
  struct bpf_map* m = bpf_object__find_map_by_name(o, name.c_str());
  if (m == nullptr) {
    // Accept ".bss"/".rodata"/".data" style names and full "obj.bss" names.
    struct bpf_map* it;
    bpf_object__for_each_map(it, o) {
      std::string n = bpf_map__name(it);
      if (n == name || (bpf_map__is_internal(it) && MapSection(it) == name)) {
        m = it;
        break;
      }
    }
  }
  if (m == nullptr) ThrowErrno(env, ENOENT, op, "no map named '" + name + "'");
  return m;
}

struct bpf_program* NativeObject::FindProg(const Napi::Env& env, const std::string& name, const char* op) {
  struct bpf_program* p = bpf_object__find_program_by_name(Obj(env, op), name.c_str());
  if (p == nullptr) ThrowErrno(env, ENOENT, op, "no program named '" + name + "'");
  return p;
}

Napi::Value NativeObject::Name(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), Str(bpf_object__name(Obj(info.Env(), "bpf_object__name"))));
}

Napi::Value NativeObject::Programs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct bpf_object* o = Obj(env, "programs");
  Napi::Array arr = Napi::Array::New(env);
  struct bpf_program* p;
  uint32_t i = 0;
  bpf_object__for_each_program(p, o) {
    Napi::Object d = Napi::Object::New(env);
    d.Set("name", bpf_program__name(p));
    d.Set("section", Str(bpf_program__section_name(p)));
    d.Set("type", static_cast<uint32_t>(bpf_program__type(p)));
    d.Set("typeName", Str(libbpf_bpf_prog_type_str(bpf_program__type(p))));
    d.Set("expectedAttachType", Str(libbpf_bpf_attach_type_str(bpf_program__expected_attach_type(p))));
    d.Set("autoload", bpf_program__autoload(p));
    d.Set("insnCount", static_cast<double>(bpf_program__insn_cnt(p)));
    d.Set("fd", loaded_ ? bpf_program__fd(p) : -1);
    arr.Set(i++, d);
  }
  return arr;
}

Napi::Object NativeObject::DescribeMap(Napi::Env env, struct bpf_map* m) {
  Napi::Object d = Napi::Object::New(env);
  d.Set("name", bpf_map__name(m));
  d.Set("section", MapSection(m));
  d.Set("type", static_cast<uint32_t>(bpf_map__type(m)));
  d.Set("typeName", Str(libbpf_bpf_map_type_str(bpf_map__type(m))));
  d.Set("keySize", bpf_map__key_size(m));
  d.Set("valueSize", bpf_map__value_size(m));
  d.Set("maxEntries", bpf_map__max_entries(m));
  d.Set("flags", bpf_map__map_flags(m));
  d.Set("internal", bpf_map__is_internal(m));
  d.Set("autocreate", bpf_map__autocreate(m));
  d.Set("fd", loaded_ ? bpf_map__fd(m) : -1);
  return d;
}

Napi::Value NativeObject::Maps(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct bpf_object* o = Obj(env, "maps");
  Napi::Array arr = Napi::Array::New(env);
  struct bpf_map* m;
  uint32_t i = 0;
  bpf_object__for_each_map(m, o) arr.Set(i++, DescribeMap(env, m));
  return arr;
}

Napi::Value NativeObject::MapInfo(const Napi::CallbackInfo& info) {
  std::string name = ArgString(info, 0, "map name");
  return DescribeMap(info.Env(), FindMap(info.Env(), name, "mapInfo"));
}

Napi::Value NativeObject::SetInitialValue(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ArgString(info, 0, "map name");
  auto buf = ArgBuffer(info, 1, "value");
  struct bpf_map* m = FindMap(env, name, "bpf_map__set_initial_value");
  RequireLoaded(env, "bpf_map__set_initial_value", false);
  LogScope log(env);
  int err = bpf_map__set_initial_value(m, buf.Data(), buf.Length());
  if (err)
    ThrowErrno(env, err, "bpf_map__set_initial_value",
               "map '" + name + "' expects " + std::to_string(bpf_map__value_size(m)) + " bytes, got " + std::to_string(buf.Length()),
               &log);
  return env.Undefined();
}

Napi::Value NativeObject::InitialValue(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ArgString(info, 0, "map name");
  struct bpf_map* m = FindMap(env, name, "bpf_map__initial_value");
  size_t sz = 0;
  const void* p = bpf_map__initial_value(m, &sz);
  if (p == nullptr) return env.Null();
  return Napi::Buffer<uint8_t>::Copy(env, static_cast<const uint8_t*>(p), sz);
}

Napi::Value NativeObject::SetAutoload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ArgString(info, 0, "program name");
  if (info.Length() < 2 || !info[1].IsBoolean()) ThrowType(env, "autoload must be a boolean");
  struct bpf_program* p = FindProg(env, name, "bpf_program__set_autoload");
  RequireLoaded(env, "bpf_program__set_autoload", false);
  int err = bpf_program__set_autoload(p, info[1].As<Napi::Boolean>().Value());
  if (err) ThrowErrno(env, err, "bpf_program__set_autoload", name);
  return env.Undefined();
}

// A map left out of the load (libbpf also skips the struct_ops programs only it uses).
Napi::Value NativeObject::SetAutocreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ArgString(info, 0, "map name");
  if (info.Length() < 2 || !info[1].IsBoolean()) ThrowType(env, "autocreate must be a boolean");
  struct bpf_map* m = FindMap(env, name, "bpf_map__set_autocreate");
  RequireLoaded(env, "bpf_map__set_autocreate", false);
  int err = bpf_map__set_autocreate(m, info[1].As<Napi::Boolean>().Value());
  if (err) ThrowErrno(env, err, "bpf_map__set_autocreate", name);
  return env.Undefined();
}

Napi::Value NativeObject::SetMaxEntries(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ArgString(info, 0, "map name");
  int64_t n = ArgInt(info, 1, "maxEntries", 1, UINT32_MAX);
  struct bpf_map* m = FindMap(env, name, "bpf_map__set_max_entries");
  RequireLoaded(env, "bpf_map__set_max_entries", false);
  int err = bpf_map__set_max_entries(m, static_cast<__u32>(n));
  if (err) ThrowErrno(env, err, "bpf_map__set_max_entries", name);
  return env.Undefined();
}

// Makes the named map use an existing map fd (e.g. a pinned map) instead of
// creating a new one at load; the kernel map must be compatible.
Napi::Value NativeObject::ReuseMapFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ArgString(info, 0, "map name");
  int fd = ArgFd(info, 1, "fd");
  struct bpf_map* m = FindMap(env, name, "bpf_map__reuse_fd");
  RequireLoaded(env, "bpf_map__reuse_fd", false);
  LogScope log(env);
  int err = bpf_map__reuse_fd(m, fd);
  if (err) ThrowErrno(env, err, "bpf_map__reuse_fd", name, &log);
  return env.Undefined();
}

int NativeObject::LoadObject() {
  if (!log_.empty()) log_[0] = '\0';
  double t0 = NowNs();
  int err = bpf_object__load(obj_);
  loadTimeNs_ = NowNs() - t0;
  return err;
}

Napi::Error NativeObject::LoadResult(Napi::Env env, int err, const LogScope& log) {
  if (!err) {
    loaded_ = true;
    return Napi::Error();
  }
  std::string libbpfLog = log.Text();
  // Which program failed? libbpf says "prog 'NAME': BPF program load failed".
  std::string failed;
  std::smatch mt;
  static const std::regex re("prog '([^']+)': (BPF program load failed|failed to load)");
  if (std::regex_search(libbpfLog, mt, re)) failed = mt[1].str();
  std::string vlog;
  if (!failed.empty()) {
    auto it = progLogs_.find(failed);
    if (it != progLogs_.end()) vlog = BufString(it->second);
  }
  if (vlog.empty()) vlog = BufString(log_);
  if (vlog.empty()) {
    for (auto& kv : progLogs_) vlog += BufString(kv.second);
  }
  Napi::Error e = MakeErrnoError(env, err, "bpf_object__load", failed.empty() ? "" : "program '" + failed + "'", &vlog, &log);
  if (!failed.empty()) e.Set("program", failed);
  // The object cannot be loaded again; free it now, it is unusable.
  bpf_object__close(obj_);
  obj_ = nullptr;
  return e;
}

Napi::Value NativeObject::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Obj(env, "bpf_object__load");
  RequireLoaded(env, "bpf_object__load", false);
  LogScope log(env);
  Napi::Error e = LoadResult(env, LoadObject(), log);
  if (!e.IsEmpty()) throw e;
  return env.Undefined();
}

// Runs bpf_object__load on libuv's thread pool, so that the verifier's time
// (seconds for a large scheduler under emulation) does not block the event
// loop. libbpf's print callback is process-wide but LogScope is per thread,
// so the worker's messages are its own.
class LoadWorker : public Napi::AsyncWorker {
 public:
  LoadWorker(Napi::Env env, NativeObject* obj)
      : Napi::AsyncWorker(env, "acg:bpf_object__load"), obj_(obj), done_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() const { return done_.Promise(); }

 protected:
  void Execute() override {
    LogScope log(nullptr);
    err_ = obj_->LoadObject();
    lines_ = log.TakeLines();
  }
  void OnOK() override { obj_->LoadAsyncDone(Env(), err_, std::move(lines_), done_); }

 private:
  NativeObject* obj_;
  Napi::Promise::Deferred done_;
  int err_ = 0;
  std::vector<LogLine> lines_;
};

// loadAsync(): Promise<void>, settled as load() returns or throws. The
// object is referenced (not collected) until then.
Napi::Value NativeObject::LoadAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Obj(env, "bpf_object__load");
  RequireLoaded(env, "bpf_object__load", false);
  auto* w = new LoadWorker(env, this);
  loading_ = true;
  Ref();
  w->Queue();
  return w->Promise();
}

void NativeObject::LoadAsyncDone(Napi::Env env, int err, std::vector<LogLine> lines, const Napi::Promise::Deferred& done) {
  loading_ = false;
  Unref();
  LogScope log(env);
  log.Adopt(std::move(lines));
  if (closeAfterLoad_) {
    bpf_object__close(obj_);
    obj_ = nullptr;
    loaded_ = false;
    done.Reject(MakeErrnoError(env, ECANCELED, "bpf_object__load", "the object was closed while it loaded", nullptr, &log).Value());
    return;
  }
  Napi::Error e = LoadResult(env, err, log);
  if (e.IsEmpty())
    done.Resolve(env.Undefined());
  else
    done.Reject(e.Value());
}

Napi::Value NativeObject::IsLoaded(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), loaded_ && obj_ != nullptr); }

Napi::Value NativeObject::VerifierLog(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), BufString(log_)); }

// Per-program statistics after load (veristat-style):
// { name, section, id, type, typeName, verifiedInsns, xlatedInsns, jitedBytes,
//   runTimeNs, runCnt, verificationTimeUs?, peakStates?, totalStates?, stackDepth?,
//   statsLog? } plus loadTimeNs of the whole object on every row.
Napi::Value NativeObject::ProgramStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct bpf_object* o = Obj(env, "programStats");
  RequireLoaded(env, "programStats", true);
  Napi::Array arr = Napi::Array::New(env);
  struct bpf_program* p;
  uint32_t i = 0;
  static const std::regex reTime("verification time (\\d+) usec");
  static const std::regex reStates("total_states (\\d+) peak_states (\\d+)");
  static const std::regex reStack("stack depth ([0-9+]+)");
  bpf_object__for_each_program(p, o) {
    int fd = bpf_program__fd(p);
    if (fd < 0) continue;  // not autoloaded
    struct bpf_prog_info pi;
    memset(&pi, 0, sizeof(pi));
    __u32 len = sizeof(pi);
    int err = bpf_prog_get_info_by_fd(fd, &pi, &len);
    if (err) ThrowErrno(env, err, "bpf_prog_get_info_by_fd", bpf_program__name(p));
    Napi::Object d = Napi::Object::New(env);
    d.Set("name", bpf_program__name(p));
    d.Set("section", Str(bpf_program__section_name(p)));
    d.Set("id", pi.id);
    d.Set("type", pi.type);
    d.Set("typeName", Str(libbpf_bpf_prog_type_str(static_cast<enum bpf_prog_type>(pi.type))));
    d.Set("verifiedInsns", pi.verified_insns);
    d.Set("xlatedInsns", pi.xlated_prog_len / 8);
    d.Set("jitedBytes", pi.jited_prog_len);
    d.Set("runTimeNs", static_cast<double>(pi.run_time_ns));
    d.Set("runCnt", static_cast<double>(pi.run_cnt));
    d.Set("loadTimeNs", loadTimeNs_);
    auto it = progLogs_.find(bpf_program__name(p));
    if (it != progLogs_.end()) {
      std::string s = BufString(it->second);
      std::smatch mt;
      if (std::regex_search(s, mt, reTime)) d.Set("verificationTimeUs", std::stod(mt[1].str()));
      if (std::regex_search(s, mt, reStates)) {
        d.Set("totalStates", std::stod(mt[1].str()));
        d.Set("peakStates", std::stod(mt[2].str()));
      }
      if (std::regex_search(s, mt, reStack)) d.Set("stackDepth", mt[1].str());
      d.Set("statsLog", s);
    }
    arr.Set(i++, d);
  }
  return arr;
}

Napi::Value NativeObject::MapFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ArgString(info, 0, "map name");
  struct bpf_map* m = FindMap(env, name, "bpf_map__fd");
  RequireLoaded(env, "bpf_map__fd", true);
  int fd = bpf_map__fd(m);
  if (fd < 0) ThrowErrno(env, ENOENT, "bpf_map__fd", "map '" + name + "' was not created");
  return Napi::Number::New(env, fd);
}

Napi::Value NativeObject::ProgramFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ArgString(info, 0, "program name");
  struct bpf_program* p = FindProg(env, name, "bpf_program__fd");
  RequireLoaded(env, "bpf_program__fd", true);
  int fd = bpf_program__fd(p);
  if (fd < 0) ThrowErrno(env, ENOENT, "bpf_program__fd", "program '" + name + "' was not loaded");
  return Napi::Number::New(env, fd);
}

Napi::Value NativeObject::AttachStructOps(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ArgString(info, 0, "map name");
  struct bpf_map* m = FindMap(env, name, "bpf_map__attach_struct_ops");
  RequireLoaded(env, "bpf_map__attach_struct_ops", true);
  if (bpf_map__type(m) != BPF_MAP_TYPE_STRUCT_OPS) ThrowType(env, "map '" + name + "' is not a struct_ops map");
  LogScope log(env);
  errno = 0;
  struct bpf_link* l = bpf_map__attach_struct_ops(m);
  if (l == nullptr) ThrowErrno(env, LastErrno(), "bpf_map__attach_struct_ops", name, &log);
  return NativeLink::Wrap(env, l, "struct_ops");
}

Napi::Value NativeObject::AttachProgram(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ArgString(info, 0, "program name");
  struct bpf_program* p = FindProg(env, name, "bpf_program__attach");
  RequireLoaded(env, "bpf_program__attach", true);
  LogScope log(env);
  errno = 0;
  struct bpf_link* l = bpf_program__attach(p);
  if (l == nullptr) ThrowErrno(env, LastErrno(), "bpf_program__attach", name, &log);
  return NativeLink::Wrap(env, l, Str(libbpf_bpf_prog_type_str(bpf_program__type(p))));
}

Napi::Value NativeObject::AttachCgroup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ArgString(info, 0, "program name");
  int cgfd = ArgFd(info, 1, "cgroup fd");
  struct bpf_program* p = FindProg(env, name, "bpf_program__attach_cgroup");
  RequireLoaded(env, "bpf_program__attach_cgroup", true);
  LogScope log(env);
  errno = 0;
  struct bpf_link* l = bpf_program__attach_cgroup(p, cgfd);
  if (l == nullptr) ThrowErrno(env, LastErrno(), "bpf_program__attach_cgroup", name, &log);
  return NativeLink::Wrap(env, l, "cgroup");
}

Napi::Value NativeObject::Close(const Napi::CallbackInfo& info) {
  if (loading_) {  // the worker thread is inside bpf_object__load: it closes the object when it returns
    closeAfterLoad_ = true;
    return info.Env().Undefined();
  }
  if (obj_ != nullptr) {
    LogScope log(info.Env());
    bpf_object__close(obj_);
  }
  obj_ = nullptr;
  loaded_ = false;
  return info.Env().Undefined();
}

Napi::Value NativeObject::IsClosed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), obj_ == nullptr || closeAfterLoad_);
}

}  // namespace acg
