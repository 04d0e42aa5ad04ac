// Runtime I/O the Node API cannot do by itself, as a small separate addon
// (acg_runtime_io.node) used by runtime/native-io.ts:
//  - psiTriggerWatch(file, trigger, cb): registers a PSI trigger on a
//    pressure file (Documentation/accounting/psi.rst: write the trigger, then
//    poll() the same fd for POLLPRI) and calls cb on each event, from the
//    event loop (uv_poll with UV_PRIORITIZED). Returns { close() }.
//  - peerCredentials(fd): getsockopt(SO_PEERCRED) of a connected Unix socket,
//    plus SO_PEERPIDFD (Linux 6.5+): a pidfd of the very process that
//    connected, so that its cgroup can be read without a pid-reuse race.
//  - pidfdExited(pidfd): whether that process has exited (poll POLLIN).
//  - sendDatagram(path, message): one datagram to a Unix datagram socket
//    (a leading '@' names an abstract one): systemd's readiness notification
//    ($NOTIFY_SOCKET, sd_notify(3)'s protocol), which Node's dgram cannot send.
#include <napi.h>
#include <uv.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>

namespace {

Napi::Error ErrnoError(Napi::Env env, int err, const std::string& op, const std::string& detail) {
  Napi::Error e = Napi::Error::New(env, op + " " + detail + ": " + strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("code", Napi::String::New(env, strerrorname_np(err) ? strerrorname_np(err) : "EUNKNOWN"));
  e.Set("op", Napi::String::New(env, op));
  return e;
}

// Lives until libuv's close callback (the uv_poll handle must stay valid).
struct PsiWatch {
  uv_poll_t poll;
  int fd = -1;
  bool closed = false;
  Napi::Env env = nullptr;
  Napi::FunctionReference cb;
  // The JS handle ({ close }) is the callback's receiver: node's MakeCallback needs an object.
  Napi::ObjectReference handle;
  Napi::AsyncContext* async = nullptr;
};

void OnClosed(uv_handle_t* h) {
  auto* w = static_cast<PsiWatch*>(h->data);
  if (w->fd >= 0) close(w->fd);
  delete w->async;
  delete w;
}

void Shutdown(PsiWatch* w) {
  if (w->closed) return;
  w->closed = true;
  uv_poll_stop(&w->poll);
  w->cb.Reset();
  w->handle.Reset();
  uv_close(reinterpret_cast<uv_handle_t*>(&w->poll), OnClosed);
}

void OnEvent(uv_poll_t* h, int status, int events) {
  auto* w = static_cast<PsiWatch*>(h->data);
  if (w->closed) return;
  // An error (the cgroup was removed: the kernel reports POLLERR) ends the watch.
  if (status < 0 || (events & UV_DISCONNECT)) {
    Shutdown(w);
    return;
  }
  if (!(events & UV_PRIORITIZED)) return;
  Napi::HandleScope scope(w->env);
  try {
    w->cb.MakeCallback(w->handle.Value(), {}, *w->async);
  } catch (const Napi::Error& e) {
    napi_fatal_exception(w->env, e.Value());
  }
}

Napi::Value PsiTriggerWatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsString() || !info[2].IsFunction()) {
    throw Napi::TypeError::New(env, "psiTriggerWatch(file: string, trigger: string, cb: function)");
  }
  std::string file = info[0].As<Napi::String>();
  std::string trigger = info[1].As<Napi::String>();
  int fd = open(file.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw ErrnoError(env, errno, "open", file);
  // The trigger string includes its terminating NUL, as psi.rst's example writes it.
  if (write(fd, trigger.c_str(), trigger.size() + 1) < 0) {
    int err = errno;
    close(fd);
    throw ErrnoError(env, err, "write", file + " (trigger \"" + trigger + "\")");
  }
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  auto* w = new PsiWatch();
  w->fd = fd;
  w->env = env;
  w->poll.data = w;
  int r = uv_poll_init(loop, &w->poll, fd);
  if (r != 0) {
    close(fd);
    delete w;
    throw ErrnoError(env, -r, "uv_poll_init", file);
  }
  r = uv_poll_start(&w->poll, UV_PRIORITIZED, OnEvent);
  if (r != 0) {
    w->closed = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&w->poll), OnClosed);
    throw ErrnoError(env, -r, "uv_poll_start", file);
  }
  // A watch alone does not keep the process alive (acgd's socket does).
  uv_unref(reinterpret_cast<uv_handle_t*>(&w->poll));
  w->cb = Napi::Persistent(info[2].As<Napi::Function>());
  w->async = new Napi::AsyncContext(env, "acg:psi");
  Napi::Object handle = Napi::Object::New(env);
  handle.Set("close", Napi::Function::New(
                          env,
                          [w](const Napi::CallbackInfo& ci) {
                            Shutdown(w);
                            return ci.Env().Undefined();
                          },
                          "close"));
  w->handle = Napi::Persistent(handle);
  return handle;
}

Napi::Value PeerCredentials(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "peerCredentials(fd: number)");
  int fd = info[0].As<Napi::Number>().Int32Value();
  struct ucred cred;
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
    throw ErrnoError(env, errno, "getsockopt", "SO_PEERCRED fd " + std::to_string(fd));
  Napi::Object o = Napi::Object::New(env);
  o.Set("pid", Napi::Number::New(env, cred.pid));
  o.Set("uid", Napi::Number::New(env, cred.uid));
  o.Set("gid", Napi::Number::New(env, cred.gid));
  // SO_PEERPIDFD's value in the kernel's uapi; older headers lack the name.
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif
  int pidfd = -1;
  socklen_t plen = sizeof(pidfd);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &plen) != 0) pidfd = -1;
  o.Set("pidfd", Napi::Number::New(env, pidfd));
  return o;
}

Napi::Value PidfdExited(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "pidfdExited(pidfd: number)");
  struct pollfd p = {info[0].As<Napi::Number>().Int32Value(), POLLIN, 0};
  int r;
  // A signal to acgd (SIGCHLD, a profiler's SIGPROF) can interrupt even a poll that does not wait.
  do r = poll(&p, 1, 0);
  while (r < 0 && errno == EINTR);
  if (r < 0) throw ErrnoError(env, errno, "poll", "pidfd");
  // A pidfd is readable once its process has exited (zombie or reaped).
  return Napi::Boolean::New(env, r > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)) != 0);
}

Napi::Value SendDatagram(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString())
    throw Napi::TypeError::New(env, "sendDatagram(path: string, message: string)");
  std::string path = info[0].As<Napi::String>();
  std::string msg = info[1].As<Napi::String>();
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path))
    throw Napi::RangeError::New(env, "sendDatagram: socket path empty or too long: " + path);
  memcpy(addr.sun_path, path.data(), path.size());
  if (path[0] == '@') addr.sun_path[0] = '\0';
  socklen_t len = offsetof(struct sockaddr_un, sun_path) + path.size();
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw ErrnoError(env, errno, "socket", "AF_UNIX SOCK_DGRAM");
  ssize_t n = sendto(fd, msg.data(), msg.size(), MSG_NOSIGNAL, reinterpret_cast<struct sockaddr*>(&addr), len);
  int err = errno;
  close(fd);
  if (n < 0) throw ErrnoError(env, err, "sendto", path);
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("sendDatagram", Napi::Function::New(env, SendDatagram, "sendDatagram"));
  exports.Set("psiTriggerWatch", Napi::Function::New(env, PsiTriggerWatch, "psiTriggerWatch"));
  exports.Set("peerCredentials", Napi::Function::New(env, PeerCredentials, "peerCredentials"));
  exports.Set("pidfdExited", Napi::Function::New(env, PidfdExited, "pidfdExited"));
  return exports;
}

}  // namespace

NODE_API_MODULE(acg_runtime_io, Init)
