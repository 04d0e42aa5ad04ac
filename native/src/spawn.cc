// spawnInCgroup: clone3(CLONE_INTO_CGROUP | CLONE_PIDFD) + execve, so the
// child is born in its cgroup; waitPidfd: uv_poll on the pidfd + waitid;
// sendSignal: pidfd_send_signal.
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "common.h"

extern char** environ;

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

namespace acg {

namespace {

// waitid's P_PIDFD (3); glibc's idtype_t may predate it.
const idtype_t kPidfdIdType = static_cast<idtype_t>(3);

// Layout of the clone3 argument (kernel ABI, CLONE_ARGS_SIZE_VER2 = 88 bytes).
struct Clone3Args {
  uint64_t flags;
  uint64_t pidfd;
  uint64_t child_tid;
  uint64_t parent_tid;
  uint64_t exit_signal;
  uint64_t stack;
  uint64_t stack_size;
  uint64_t tls;
  uint64_t set_tid;
  uint64_t set_tid_size;
  uint64_t cgroup;
};
static_assert(sizeof(Clone3Args) == 88, "clone_args v2 is 88 bytes");

// What the child reports through the CLOEXEC pipe when it cannot exec.
struct ChildFailure {
  int stage;  // index into kStages
  int err;
};
const char* const kStages[] = {"dup", "dup2", "chdir", "setsid", "execve"};
enum { kStageDup, kStageDup2, kStageChdir, kStageSetsid, kStageExecve };

[[noreturn]] void ChildFail(int pipefd, int stage, int err) {
  ChildFailure f{stage, err};
  ssize_t r;
  do {
    r = write(pipefd, &f, sizeof(f));
  } while (r < 0 && errno == EINTR);
  _exit(127);
}

// Runs in the child between clone3 and execve: async-signal-safe calls only.
[[noreturn]] void ChildExec(int pipefd, int stdio[3], const char* cwd, bool newSession, const char* oomScoreAdj, const char* file,
                            char* const* argv, char* const* envp) {
  // Dispositions back to default (handlers would be wrong after exec anyway,
  // and ignored signals such as Node's SIGPIPE would be inherited).
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    sigaction(sig, &sa, nullptr);  // fails harmlessly for libc-reserved signals
  }
  // Move low fds that must land elsewhere out of the way first.
  for (int i = 0; i < 3; i++) {
    if (stdio[i] < 3 && stdio[i] != i) {
      int nfd = fcntl(stdio[i], F_DUPFD_CLOEXEC, 3);
      if (nfd < 0) ChildFail(pipefd, kStageDup, errno);
      stdio[i] = nfd;
    }
  }
  for (int i = 0; i < 3; i++) {
    if (stdio[i] == i) {
      int fl = fcntl(i, F_GETFD);
      if (fl < 0 || fcntl(i, F_SETFD, fl & ~FD_CLOEXEC) < 0) ChildFail(pipefd, kStageDup2, errno);
    } else if (dup2(stdio[i], i) < 0) {
      ChildFail(pipefd, kStageDup2, errno);
    }
  }
  if (cwd != nullptr && chdir(cwd) != 0) ChildFail(pipefd, kStageChdir, errno);
  if (newSession && setsid() < 0) ChildFail(pipefd, kStageSetsid, errno);
  // The kernel's OOM killer ranks the call's processes by this; children
  // inherit it. Best effort: lowering it needs CAP_SYS_RESOURCE, and a call
  // that keeps its parent's value still dies whole by memory.oom.group.
  if (oomScoreAdj != nullptr) {
    int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
      ssize_t ignored = write(fd, oomScoreAdj, strlen(oomScoreAdj));
      (void)ignored;
      close(fd);
    }
  }
  sigset_t empty;
  sigemptyset(&empty);
  sigprocmask(SIG_SETMASK, &empty, nullptr);
  execve(file, argv, envp);
  ChildFail(pipefd, kStageExecve, errno);
}

std::vector<std::string> StringArray(Napi::Env env, Napi::Value v, const char* what) {
  if (!v.IsArray()) ThrowType(env, std::string(what) + " must be an array of strings");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<std::string> out;
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value e = a.Get(i);
    if (!e.IsString()) ThrowType(env, std::string(what) + "[" + std::to_string(i) + "] must be a string");
    std::string s = e.As<Napi::String>().Utf8Value();
    if (s.find('\0') != std::string::npos) ThrowType(env, std::string(what) + "[" + std::to_string(i) + "] must not contain NUL");
    out.push_back(std::move(s));
  }
  return out;
}

// Closes fds on scope exit (parent side).
struct FdCloser {
  std::vector<int> fds;
  ~FdCloser() {
    for (int fd : fds)
      if (fd >= 0) close(fd);
  }
};

// spawnInCgroup({ file, argv, env?, cwd?, cgroupPath?, stdio?: [fd|null x3], newSession? })
//   -> { pid, pidfd }
Napi::Value SpawnInCgroup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject() || info[0].IsArray()) ThrowType(env, "spawnInCgroup expects an options object");
  Napi::Object o = info[0].As<Napi::Object>();

  Napi::Value vfile = o.Get("file");
  if (!vfile.IsString()) ThrowType(env, "file must be a string");
  std::string file = vfile.As<Napi::String>().Utf8Value();
  if (file.empty() || file.find('\0') != std::string::npos) ThrowType(env, "file must be a non-empty path without NUL");
  std::vector<std::string> argvS = StringArray(env, o.Get("argv"), "argv");
  bool haveEnv = !(o.Get("env").IsUndefined() || o.Get("env").IsNull());
  std::vector<std::string> envS;
  if (haveEnv) envS = StringArray(env, o.Get("env"), "env");
  std::string cwd, cgroupPath;
  bool haveCwd = false, haveCg = false;
  Napi::Value v = o.Get("cwd");
  if (!v.IsUndefined() && !v.IsNull()) {
    if (!v.IsString()) ThrowType(env, "cwd must be a string");
    cwd = v.As<Napi::String>().Utf8Value();
    haveCwd = true;
  }
  v = o.Get("cgroupPath");
  if (!v.IsUndefined() && !v.IsNull()) {
    if (!v.IsString()) ThrowType(env, "cgroupPath must be a string");
    cgroupPath = v.As<Napi::String>().Utf8Value();
    haveCg = true;
  }
  bool newSession = OptBool(env, o, "newSession", false);
  std::string oomScoreAdj;
  bool haveOom = false;
  v = o.Get("oomScoreAdj");
  if (!v.IsUndefined() && !v.IsNull()) {
    double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : 2000;
    if (d < -1000 || d > 1000 || d != static_cast<double>(static_cast<int>(d)))
      ThrowType(env, "oomScoreAdj must be an integer from -1000 to 1000");
    oomScoreAdj = std::to_string(static_cast<int>(d));
    haveOom = true;
  }
  int stdio[3] = {0, 1, 2};
  bool devnull[3] = {false, false, false};
  v = o.Get("stdio");
  if (!v.IsUndefined() && !v.IsNull()) {
    if (!v.IsArray() || v.As<Napi::Array>().Length() != 3) ThrowType(env, "stdio must be an array of three fds (or null for /dev/null)");
    Napi::Array a = v.As<Napi::Array>();
    for (uint32_t i = 0; i < 3; i++) {
      Napi::Value e = a.Get(i);
      if (e.IsNull()) {
        devnull[i] = true;
        continue;
      }
      if (!e.IsNumber()) ThrowType(env, "stdio[" + std::to_string(i) + "] must be an fd or null");
      double d = e.As<Napi::Number>().DoubleValue();
      if (d < 0 || d > INT32_MAX || d != static_cast<double>(static_cast<int>(d)))
        ThrowType(env, "stdio[" + std::to_string(i) + "] must be a non-negative integer fd");
      stdio[i] = static_cast<int>(d);
    }
  }

  // Everything the child needs is prepared before clone3 (no allocation after).
  std::vector<char*> argvP, envP;
  for (auto& s : argvS) argvP.push_back(const_cast<char*>(s.c_str()));
  argvP.push_back(nullptr);
  for (auto& s : envS) envP.push_back(const_cast<char*>(s.c_str()));
  envP.push_back(nullptr);
  char* const* envp = haveEnv ? envP.data() : environ;

  FdCloser closer;
  for (int i = 0; i < 3; i++) {
    if (!devnull[i]) continue;
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd < 0) ThrowErrno(env, errno, "open", "/dev/null");
    closer.fds.push_back(fd);
    stdio[i] = fd;
  }
  int cgfd = -1;
  if (haveCg) {
    cgfd = open(cgroupPath.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cgfd < 0) ThrowErrno(env, errno, "open", "cgroup " + cgroupPath);
    closer.fds.push_back(cgfd);
  }
  int pfd[2];
  if (pipe2(pfd, O_CLOEXEC) != 0) ThrowErrno(env, errno, "pipe2");
  closer.fds.push_back(pfd[0]);
  int writeEnd = pfd[1];

  int pidfd = -1;
  Clone3Args ca;
  memset(&ca, 0, sizeof(ca));
  ca.flags = CLONE_PIDFD | (haveCg ? CLONE_INTO_CGROUP : 0);
  ca.pidfd = reinterpret_cast<uint64_t>(&pidfd);
  ca.exit_signal = SIGCHLD;
  ca.cgroup = haveCg ? static_cast<uint64_t>(cgfd) : 0;

  // Block every signal around clone3 so that no Node/libuv handler runs in
  // the child before it has reset dispositions.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  long pid = syscall(SYS_clone3, &ca, sizeof(ca));
  if (pid == 0) {
    ChildExec(writeEnd, stdio, haveCwd ? cwd.c_str() : nullptr, newSession, haveOom ? oomScoreAdj.c_str() : nullptr, file.c_str(),
              argvP.data(), envp);
  }
  int cloneErr = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  close(writeEnd);
  if (pid < 0) {
    ThrowErrno(env, cloneErr, "clone3", haveCg ? "into cgroup " + cgroupPath : std::string("(no cgroup)"));
  }

  ChildFailure f{0, 0};
  ssize_t got = 0;
  for (;;) {
    ssize_t r = read(pfd[0], reinterpret_cast<char*>(&f) + got, sizeof(f) - static_cast<size_t>(got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += r;
    if (got == static_cast<ssize_t>(sizeof(f))) break;
  }
  if (got == static_cast<ssize_t>(sizeof(f))) {
    // exec failed: reap the child (it has already called _exit) and report.
    siginfo_t si;
    while (waitid(kPidfdIdType, static_cast<id_t>(pidfd), &si, WEXITED) < 0 && errno == EINTR) {
    }
    close(pidfd);
    int stage = f.stage >= 0 && f.stage <= kStageExecve ? f.stage : kStageExecve;
    std::string detail = stage == kStageChdir ? cwd : file;
    Napi::Error e = MakeErrnoError(env, f.err, kStages[stage], detail);
    e.Set("path", detail);
    throw e;
  }
  Napi::Object res = Napi::Object::New(env);
  res.Set("pid", static_cast<double>(pid));
  res.Set("pidfd", pidfd);
  return res;
}

// ---- waitPidfd --------------------------------------------------------------
struct Waiter {
  uv_poll_t poll;
  napi_env env;
  napi_deferred deferred;
  napi_async_context async = nullptr;
  int pidfd;
  bool done = false;
};

void OnWaiterClosed(uv_handle_t* h) { delete static_cast<Waiter*>(h->data); }

void Settle(Waiter* w, bool ok, napi_value value) {
  w->done = true;
  uv_poll_stop(&w->poll);
  if (ok)
    napi_resolve_deferred(w->env, w->deferred, value);
  else
    napi_reject_deferred(w->env, w->deferred, value);
  uv_close(reinterpret_cast<uv_handle_t*>(&w->poll), OnWaiterClosed);
}

void OnPidfdReadable(uv_poll_t* h, int status, int events) {
  auto* w = static_cast<Waiter*>(h->data);
  if (w->done) return;
  siginfo_t si;
  memset(&si, 0, sizeof(si));
  int r = waitid(kPidfdIdType, static_cast<id_t>(w->pidfd), &si, WEXITED | WNOHANG);
  int err = errno;
  if (r == 0 && si.si_pid == 0) return;  // not exited yet (spurious wake-up)
  Napi::Env env(w->env);
  Napi::HandleScope hs(env);
  napi_async_context ac = w->async;
  // A callback scope so that promise reactions run right after we settle.
  napi_value resource = Napi::Object::New(env);
  napi_callback_scope cs = nullptr;
  napi_open_callback_scope(w->env, resource, ac, &cs);
  if (r != 0) {
    Napi::Error e = MakeErrnoError(env, err, "waitid", "pidfd " + std::to_string(w->pidfd));
    Settle(w, false, e.Value());
  } else {
    Napi::Object res = Napi::Object::New(env);
    res.Set("pid", static_cast<double>(si.si_pid));
    if (si.si_code == CLD_EXITED) {
      res.Set("code", si.si_status);
      res.Set("signal", env.Null());
    } else {
      res.Set("code", env.Null());
      res.Set("signal", si.si_status);
      res.Set("coreDumped", si.si_code == CLD_DUMPED);
    }
    Settle(w, true, res);
  }
  if (cs != nullptr) napi_close_callback_scope(w->env, cs);
  napi_async_destroy(w->env, ac);
}

// waitPidfd(pidfd) -> Promise<{ pid, code: number|null, signal: number|null }>
// Reaps the child; the pidfd itself stays open (the caller closes it).
Napi::Value WaitPidfd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int pidfd = ArgFd(info, 0, "pidfd");
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) ThrowErrno(env, EINVAL, "napi_get_uv_event_loop");
  auto* w = new Waiter();
  w->env = env;
  w->pidfd = pidfd;
  int r = uv_poll_init(loop, &w->poll, pidfd);
  if (r != 0) {
    delete w;
    ThrowErrno(env, -r, "uv_poll_init", "pidfd " + std::to_string(pidfd));
  }
  w->poll.data = w;
  napi_value promise;
  napi_create_promise(env, &w->deferred, &promise);
  napi_value name = Napi::String::New(env, "acg:waitPidfd");
  napi_async_init(env, nullptr, name, &w->async);
  r = uv_poll_start(&w->poll, UV_READABLE, OnPidfdReadable);
  if (r != 0) {
    Napi::Error e = MakeErrnoError(env, -r, "uv_poll_start", "pidfd " + std::to_string(pidfd));
    napi_async_destroy(env, w->async);
    Settle(w, false, e.Value());
  }
  return Napi::Value(env, promise);
}

// sendSignal(pidfd, sig)
Napi::Value SendSignal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int pidfd = ArgFd(info, 0, "pidfd");
  int sig = static_cast<int>(ArgInt(info, 1, "signal", 0, 64));
  if (syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) != 0) ThrowErrno(env, errno, "pidfd_send_signal");
  return env.Undefined();
}

}  // namespace

void InitSpawn(Napi::Env env, Napi::Object exports) {
  exports.Set("spawnInCgroup", Napi::Function::New(env, SpawnInCgroup, "spawnInCgroup"));
  exports.Set("waitPidfd", Napi::Function::New(env, WaitPidfd, "waitPidfd"));
  exports.Set("sendSignal", Napi::Function::New(env, SendSignal, "sendSignal"));
}

}  // namespace acg
