// acg-run: `acg run` without Node's start-up. The same command line, the same
// socket protocol (docs/runtime.md, "The local API"): start_call to acgd,
// the command started directly inside the call's cgroup (clone3 with
// CLONE_INTO_CGROUP, as native/src/spawn.cc does for the Node runtime),
// SIGINT/SIGTERM/SIGHUP forwarded, end_call, the report on stderr, the
// command's exit status as ours (128+N for signal N, 125 when acg-run itself
// failed, 127 when the command was not found, 126 when it cannot be executed).
//
// Standalone mode (--policy, --cgroup-root) needs the policy front end: for
// it, acg-run hands over to the Node `acg run` (bin/acg.js beside it).
// Installed as `acg` (scripts/link-commands.sh), it runs `acg run` itself and
// hands every other acg command to the Node acg.
//
// Built by scripts/build-launcher.sh into native/build/acg-run.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif

#define EXIT_RUN_FAILED 125
#define EXIT_NOT_FOUND 127
#define DEFAULT_SOCKET "/run/agentcgroup/acgd.sock"

extern char **environ;

// ---- growable string --------------------------------------------------------

struct buf {
  char *p;
  size_t len, cap;
};

static void buf_add(struct buf *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (b->len + n + 1 > cap) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      fputs("acg run: out of memory\n", stderr);
      exit(EXIT_RUN_FAILED);
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}
static void buf_puts(struct buf *b, const char *s) { buf_add(b, s, strlen(s)); }

// A JSON string literal (RFC 8259 escaping; bytes >= 0x80 pass as they are: UTF-8 in, UTF-8 out).
static void buf_json_string(struct buf *b, const char *s) {
  buf_add(b, "\"", 1);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    char esc[8];
    if (c == '"' || c == '\\') {
      esc[0] = '\\';
      esc[1] = (char)c;
      buf_add(b, esc, 2);
    } else if (c < 0x20) {
      snprintf(esc, sizeof esc, "\\u%04x", c);
      buf_add(b, esc, 6);
    } else {
      buf_add(b, (const char *)&c, 1);
    }
  }
  buf_add(b, "\"", 1);
}

// ---- reading the response ---------------------------------------------------
// acgd answers one JSON object per line: {"id":..,"ok":true,"result":{...}} or
// {"ok":false,"error":{"code":..,"message":..}}. The fields read here sit at
// depth 2 (inside result or error); a scanner that knows strings, nesting and
// key positions finds them without building a tree.

static const char *skip_ws(const char *p) {
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
  return p;
}

// Past the string literal at p (which starts at '"'), or NULL if unterminated.
static const char *skip_string(const char *p) {
  for (p++; *p; p++) {
    if (*p == '\\') {
      if (!*++p) return NULL;
    } else if (*p == '"') {
      return p + 1;
    }
  }
  return NULL;
}

// Decodes the string literal at p into a new malloc'd string (\uXXXX below 0x80 decoded, others kept as '?').
static char *decode_string(const char *p) {
  if (*p != '"') return NULL;
  const char *end = skip_string(p);
  if (!end) return NULL;
  char *out = malloc((size_t)(end - p) + 1), *o = out;
  if (!out) return NULL;
  for (p++; p < end - 1; p++) {
    if (*p != '\\') {
      *o++ = *p;
      continue;
    }
    switch (*++p) {
      case 'n': *o++ = '\n'; break;
      case 't': *o++ = '\t'; break;
      case 'r': *o++ = '\r'; break;
      case 'b': *o++ = '\b'; break;
      case 'f': *o++ = '\f'; break;
      case 'u': {
        unsigned v = 0;
        if (sscanf(p + 1, "%4x", &v) == 1) p += 4;
        *o++ = v < 0x80 ? (char)v : '?';
        break;
      }
      default: *o++ = *p;
    }
  }
  *o = '\0';
  return out;
}

// The value of `key` in an object at nesting depth `depth` (the top object is 1), or NULL.
static const char *find_key(const char *json, const char *key, int depth) {
  int d = 0;
  // Whether the next string at this level is a key: after '{' or after ',' inside an object.
  char stack[64];
  int expect_key = 0;
  for (const char *p = json; *p;) {
    char c = *p;
    if (c == '"') {
      const char *end = skip_string(p);
      if (!end) return NULL;
      if (expect_key) {
        const char *colon = skip_ws(end);
        if (d == depth && (size_t)(end - p - 2) == strlen(key) && memcmp(p + 1, key, strlen(key)) == 0 && *colon == ':')
          return skip_ws(colon + 1);
        expect_key = 0;
      }
      p = end;
      continue;
    }
    if (c == '{' || c == '[') {
      if (d >= (int)sizeof stack) return NULL;
      stack[d++] = c;
      expect_key = c == '{';
    } else if (c == '}' || c == ']') {
      if (d == 0) return NULL;
      d--;
    } else if (c == ',') {
      expect_key = d > 0 && stack[d - 1] == '{';
    }
    p++;
  }
  return NULL;
}

static char *get_string(const char *json, const char *key, int depth) {
  const char *v = find_key(json, key, depth);
  return v && *v == '"' ? decode_string(v) : NULL;
}

// A number, or -1 for null/absent.
static double get_number(const char *json, const char *key, int depth) {
  const char *v = find_key(json, key, depth);
  if (!v || *v == 'n') return -1;
  return strtod(v, NULL);
}

static int get_true(const char *json, const char *key, int depth) {
  const char *v = find_key(json, key, depth);
  return v && strncmp(v, "true", 4) == 0;
}

// ---- the socket ---------------------------------------------------------------

static int connect_socket(const char *path) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof addr.sun_path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  strcpy(addr.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

// Sends one request line and reads one response line (malloc'd), or NULL with errno set.
static char *request(int fd, struct buf *req) {
  buf_add(req, "\n", 1);
  for (size_t off = 0; off < req->len;) {
    ssize_t n = send(fd, req->p + off, req->len - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return NULL;
    off += (size_t)n;
  }
  struct buf resp = {0};
  char chunk[4096];
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return NULL;
    if (n == 0) {
      errno = ECONNRESET;
      free(resp.p);
      return NULL;
    }
    char *nl = memchr(chunk, '\n', (size_t)n);
    buf_add(&resp, chunk, nl ? (size_t)(nl - chunk) : (size_t)n);
    if (nl) return resp.p;
  }
}

// ---- the command ----------------------------------------------------------------

// PATH lookup, as the Node acg run does (the command is executed by path).
static char *resolve_executable(const char *cmd) {
  struct stat st;
  if (strchr(cmd, '/')) {
    if (access(cmd, X_OK) != 0 || stat(cmd, &st) != 0 || !S_ISREG(st.st_mode)) return NULL;
    if (cmd[0] == '/') return strdup(cmd);
    char *abs = realpath(cmd, NULL);
    return abs;
  }
  const char *path = getenv("PATH");
  if (!path) path = "/usr/local/bin:/usr/bin:/bin";
  for (const char *dir = path; *dir;) {
    const char *end = strchr(dir, ':');
    size_t n = end ? (size_t)(end - dir) : strlen(dir);
    if (n > 0) {
      char full[PATH_MAX];
      if (snprintf(full, sizeof full, "%.*s/%s", (int)n, dir, cmd) < (int)sizeof full && access(full, X_OK) == 0 && stat(full, &st) == 0 &&
          S_ISREG(st.st_mode))
        return strdup(full);
    }
    if (!end) break;
    dir = end + 1;
  }
  return NULL;
}

struct clone_args_v2 {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

static volatile sig_atomic_t child_pid = 0;

static void forward_signal(int sig) {
  if (child_pid > 0) kill(child_pid, sig);
}

// Starts `file` inside the cgroup directory and waits; returns the wait status, or -1 with *exit_code set.
// Why a command that PATH lookup did not find as executable cannot run: the
// first candidate that exists is a directory or lacks the execute bit; NULL
// when none exists.
static const char *not_runnable(const char *cmd) {
  struct stat st;
  if (strchr(cmd, '/')) return stat(cmd, &st) != 0 ? NULL : S_ISDIR(st.st_mode) ? "is a directory" : "permission denied (not executable)";
  const char *path = getenv("PATH");
  if (!path) path = "/usr/local/bin:/usr/bin:/bin";
  char candidate[4096];
  for (const char *p = path; *p;) {
    const char *colon = strchr(p, ':');
    size_t n = colon ? (size_t)(colon - p) : strlen(p);
    if (n > 0 && n + strlen(cmd) + 2 < sizeof candidate) {
      snprintf(candidate, sizeof candidate, "%.*s/%s", (int)n, p, cmd);
      if (stat(candidate, &st) == 0) return S_ISDIR(st.st_mode) ? "is a directory" : "permission denied (not executable)";
    }
    if (!colon) break;
    p = colon + 1;
  }
  return NULL;
}

// oom_score_adj_text: acgd's value for the call ("" for none), written in the
// child before execve so that the kernel's OOM killer ranks the call's
// processes as the policy says (children inherit it). Best effort: lowering
// it needs CAP_SYS_RESOURCE, and the call still dies whole by memory.oom.group.
static int run_in_cgroup(const char *file, char **argv, const char *cgroup, const char *oom_score_adj_text, int *exit_code) {
  int cgfd = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cgfd < 0) {
    fprintf(stderr, "acg run: cannot open the call's cgroup %s: %s\n", cgroup, strerror(errno));
    *exit_code = EXIT_RUN_FAILED;
    return -1;
  }
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) {
    fprintf(stderr, "acg run: pipe: %s\n", strerror(errno));
    close(cgfd);
    *exit_code = EXIT_RUN_FAILED;
    return -1;
  }
  // Handlers before the child exists, so no signal between clone3 and here is lost; the child resets them.
  struct sigaction sa = {.sa_handler = forward_signal};
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (int s = 0, sigs[] = {SIGINT, SIGTERM, SIGHUP}; s < 3; s++) sigaction(sigs[s], &sa, NULL);

  struct clone_args_v2 args = {.flags = CLONE_INTO_CGROUP, .exit_signal = SIGCHLD, .cgroup = (uint64_t)cgfd};
  long pid = syscall(SYS_clone3, &args, sizeof args);
  if (pid == 0) {
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    for (int s = 0, sigs[] = {SIGINT, SIGTERM, SIGHUP}; s < 3; s++) sigaction(sigs[s], &dfl, NULL);
    // Own session, as the Node acg run: terminal signals reach acg-run alone, which forwards each once.
    setsid();
    if (oom_score_adj_text[0] != '\0') {
      int ofd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
      if (ofd >= 0) {
        ssize_t ignored = write(ofd, oom_score_adj_text, strlen(oom_score_adj_text));
        (void)ignored;
        close(ofd);
      }
    }
    execve(file, argv, environ);
    int e = errno;
    ssize_t w;
    do w = write(pipefd[1], &e, sizeof e);
    while (w < 0 && errno == EINTR);
    _exit(EXIT_NOT_FOUND);
  }
  int clone_errno = errno;
  close(cgfd);
  close(pipefd[1]);
  if (pid < 0) {
    close(pipefd[0]);
    fprintf(stderr, "acg run: cannot start %s in %s: clone3: %s\n", argv[0], cgroup, strerror(clone_errno));
    *exit_code = EXIT_RUN_FAILED;
    return -1;
  }
  child_pid = (pid_t)pid;
  int exec_errno = 0;
  ssize_t r;
  do r = read(pipefd[0], &exec_errno, sizeof exec_errno);
  while (r < 0 && errno == EINTR);
  close(pipefd[0]);
  int status = 0;
  while (waitpid((pid_t)pid, &status, 0) < 0 && errno == EINTR) {
  }
  child_pid = 0;
  if (r == (ssize_t)sizeof exec_errno) {
    fprintf(stderr, "acg run: cannot start %s: execve: %s\n", argv[0], strerror(exec_errno));
    *exit_code = exec_errno == ENOENT ? EXIT_NOT_FOUND : exec_errno == EACCES ? 126 : EXIT_RUN_FAILED;
    return -1;
  }
  return status;
}

// ---- the report -----------------------------------------------------------------

// Sizes as the Node report writes them (compiler/units.ts formatBytes).
static void format_bytes(double b, char *out, size_t n) {
  static const struct {
    const char *unit;
    double size;
  } units[] = {{"TiB", 1099511627776.0}, {"GiB", 1073741824.0}, {"MiB", 1048576.0}, {"KiB", 1024.0}};
  if (b < 0) {
    snprintf(out, n, "unlimited");
    return;
  }
  for (size_t i = 0; i < 4; i++)
    if (b >= units[i].size && fmod(b, units[i].size) == 0) {
      snprintf(out, n, "%.0f%s", b / units[i].size, units[i].unit);
      return;
    }
  for (size_t i = 0; i < 4; i++)
    if (b >= units[i].size) {
      snprintf(out, n, "%.2f%s", b / units[i].size, units[i].unit);
      return;
    }
  snprintf(out, n, "%.0fB", b);
}

static void print_string_items(const char *json, const char *key, const char *prefix) {
  const char *v = find_key(json, key, 2);
  if (!v || *v != '[') return;
  for (const char *p = skip_ws(v + 1); *p == '"';) {
    char *s = decode_string(p);
    if (s) fprintf(stderr, "acg:   %s%s\n", prefix, s);
    free(s);
    p = skip_string(p);
    if (!p) return;
    p = skip_ws(p);
    if (*p != ',') break;
    p = skip_ws(p + 1);
  }
}

static void report(const char *resp, int status, int json_mode, int quiet) {
  char *advice = get_string(resp, "advice", 2);
  if (quiet) {
    if (advice) fprintf(stderr, "acg: %s\n", advice);
    free(advice);
    return;
  }
  char *id = get_string(resp, "id", 2), *rule = get_string(resp, "rule", 2), *cls = get_string(resp, "class", 2);
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  const char *sig = WIFSIGNALED(status) ? sigabbrev_np(WTERMSIG(status)) : NULL;
  char ended[96];
  if (code >= 0)
    snprintf(ended, sizeof ended, "exited with status %d", code);
  else if (get_true(resp, "oomKilled", 2))
    snprintf(ended, sizeof ended, "killed by SIG%s (OOM killer)", sig ? sig : "?");
  else if (find_key(resp, "killedBy", 2) && *find_key(resp, "killedBy", 2) == '"')
    snprintf(ended, sizeof ended, "killed by SIG%s (the runtime's over_high kill)", sig ? sig : "?");
  else
    snprintf(ended, sizeof ended, "terminated by SIG%s", sig ? sig : "?");
  if (json_mode) {
    // The Node acg's --json line: the report with how the command ended.
    const char *obj = find_key(resp, "result", 1);
    const char *close = obj && *obj == '{' ? strrchr(obj, '}') : NULL;
    if (close) close = memrchr(obj, '}', (size_t)(close - obj));  // the result's own brace, before the envelope's
    struct buf line = {0};
    if (close)
      buf_add(&line, obj, (size_t)(close - obj));
    else
      buf_puts(&line, "{");
    char tail[160];
    int st = code >= 0 ? code : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    if (code >= 0)
      snprintf(tail, sizeof tail, "%s\"exit\":{\"code\":%d,\"signal\":null,\"status\":%d,\"ended\":", close ? "," : "", code, st);
    else
      snprintf(tail, sizeof tail, "%s\"exit\":{\"code\":null,\"signal\":\"SIG%s\",\"status\":%d,\"ended\":", close ? "," : "",
               sig ? sig : "?", st);
    buf_puts(&line, tail);
    buf_json_string(&line, ended);
    buf_puts(&line, "}}\n");
    fputs(line.p, stderr);
    free(line.p);
  } else {
    char peak[32], base[32], lim[32];
    double peak_b = get_number(resp, "memoryPeakBytes", 2);
    if (peak_b < 0)
      snprintf(peak, sizeof peak, "n/a");
    else
      format_bytes(peak_b, peak, sizeof peak);
    format_bytes(get_number(resp, "baselineBytes", 3), base, sizeof base);
    format_bytes(get_number(resp, "limitBytes", 3), lim, sizeof lim);
    double cpu = get_number(resp, "cpuUsageUsec", 2), thr = get_number(resp, "cpuThrottledUsec", 2);
    char cpus[32], thrs[32];
    if (cpu < 0)
      snprintf(cpus, sizeof cpus, "n/a");
    else
      snprintf(cpus, sizeof cpus, "%.2fs", cpu / 1e6);
    if (thr < 0)
      snprintf(thrs, sizeof thrs, "n/a");
    else
      snprintf(thrs, sizeof thrs, "%.2fs", thr / 1e6);
    fprintf(stderr, "acg: %s [rule %s, class %s] %s after %.2fs\n", id ? id : "?", rule ? rule : "?", cls ? cls : "?", ended,
            get_number(resp, "durationMs", 2) / 1000);
    fprintf(stderr, "acg:   memory peak %s (baseline %s, limit %s); cpu %s, throttled %s\n", peak, base, lim, cpus, thrs);
    print_string_items(resp, "intentLog", "intent: ");
    if (advice) fprintf(stderr, "acg: %s\n", advice);
  }
  free(advice);
  free(id);
  free(rule);
  free(cls);
}

// ---- main ---------------------------------------------------------------------------

static const char usage_text[] =
    "Usage: acg-run [--agent ID] [--tenant T] [--tool NAME] [--label TEXT] [--hint KEY=VALUE]...\n"
    "               [--socket PATH] [--quiet | --json] -- CMD [ARGS...]\n"
    "\n"
    "`acg run` in C, for the per-call path (no Node start-up); the same options,\n"
    "environment ($ACG_SOCKET, $ACG_AGENT, $ACG_TENANT), report and exit status.\n"
    "--policy/--cgroup-root (standalone, no acgd) hand over to the Node acg run.\n"
    "Exit status: CMD's, 128+N if a signal N ended it, 125 if acg-run failed, 127 if CMD was not found.\n";

// What needs the policy front end or is not `run` goes to the Node acg, beside
// this binary (native/build/ -> bin/acg.js): argv are acg's words, without "acg".
static int exec_node_acg(char **argv) {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n < 0) return EXIT_RUN_FAILED;
  self[n] = '\0';
  char *slash = strrchr(self, '/');
  if (!slash) return EXIT_RUN_FAILED;
  *slash = '\0';
  char script[PATH_MAX + 32];
  snprintf(script, sizeof script, "%s/../../bin/acg.js", self);
  int argc = 0;
  while (argv[argc]) argc++;
  char **nargv = calloc((size_t)argc + 3, sizeof *nargv);
  if (!nargv) return EXIT_RUN_FAILED;
  nargv[0] = "node";
  nargv[1] = script;
  for (int i = 0; i < argc; i++) nargv[i + 2] = argv[i];
  execvp("node", nargv);
  fprintf(stderr, "acg: cannot start the Node acg (%s): %s\n", script, strerror(errno));
  return EXIT_RUN_FAILED;
}

static int usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("acg run: ", stderr);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\n\n%s", usage_text);
  return 2;
}

int main(int argc, char **argv) {
  // Installed as `acg`: `acg run ...` is handled here, every other command by the Node acg.
  const char *base = strrchr(argv[0], '/');
  if (strcmp(base ? base + 1 : argv[0], "acg") == 0) {
    if (argc < 2 || strcmp(argv[1], "run") != 0) return exec_node_acg(argv + 1);
    argv++;
    argc--;
  }
  const char *agent = getenv("ACG_AGENT"), *tenant = getenv("ACG_TENANT"), *tool = NULL, *label = NULL;
  const char *socket_path = getenv("ACG_SOCKET");
  if (agent && !*agent) agent = NULL;
  if (tenant && !*tenant) tenant = NULL;
  if (!socket_path || !*socket_path) socket_path = DEFAULT_SOCKET;
  const char **hints = calloc((size_t)argc, sizeof *hints);
  int nhints = 0, quiet = 0, json_mode = 0;
  enum { OPT_AGENT = 256, OPT_TENANT, OPT_TOOL, OPT_LABEL, OPT_HINT, OPT_SOCKET, OPT_POLICY, OPT_QUIET, OPT_JSON, OPT_VERSION };
  static const struct option opts[] = {{"agent", required_argument, 0, OPT_AGENT},
                                       {"tenant", required_argument, 0, OPT_TENANT},
                                       {"tool", required_argument, 0, OPT_TOOL},
                                       {"label", required_argument, 0, OPT_LABEL},
                                       {"hint", required_argument, 0, OPT_HINT},
                                       {"socket", required_argument, 0, OPT_SOCKET},
                                       {"policy", required_argument, 0, OPT_POLICY},
                                       {"cgroup-root", required_argument, 0, OPT_POLICY},
                                       {"quiet", no_argument, 0, OPT_QUIET},
                                       {"json", no_argument, 0, OPT_JSON},
                                       {"help", no_argument, 0, 'h'},
                                       {"version", no_argument, 0, OPT_VERSION},
                                       {0, 0, 0, 0}};
  opterr = 0;
  for (int c; (c = getopt_long(argc, argv, "+h", opts, NULL)) != -1;) {
    if ((c == OPT_AGENT || c == OPT_TENANT || c == OPT_TOOL || c == OPT_LABEL || c == OPT_HINT || c == OPT_SOCKET) && !*optarg)
      return usage_error("%s needs a value", argv[optind - 1]);
    switch (c) {
      case OPT_AGENT: agent = optarg; break;
      case OPT_TENANT: tenant = optarg; break;
      case OPT_TOOL: tool = optarg; break;
      case OPT_LABEL: label = optarg; break;
      case OPT_HINT: hints[nhints++] = optarg; break;
      case OPT_SOCKET: socket_path = optarg; break;
      case OPT_POLICY: {
        // Standalone (no acgd): the Node acg run, with the same words.
        argv[0] = "run";
        return exec_node_acg(argv);
      }
      case OPT_QUIET:
        quiet = 1;
        json_mode = 0;
        break;
      case OPT_JSON:
        json_mode = 1;
        quiet = 0;
        break;
      case 'h': fputs(usage_text, stdout); return 0;
      case OPT_VERSION: printf("acg-run %s\n", ACG_VERSION); return 0;
      case ':': return usage_error("%s needs a value", argv[optind - 1]);
      default: return usage_error("unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind >= argc) return usage_error("no command: write `acg run [OPTIONS] -- CMD [ARGS...]`");
  char **cmd = argv + optind;
  char *file = resolve_executable(cmd[0]);
  if (!file) {
    // As a shell says it (and the Node acg run): 126 for a file that is there but cannot be run, 127 for none.
    const char *why = not_runnable(cmd[0]);
    fprintf(stderr, "acg run: %s: %s\n", cmd[0], why ? why : "command not found");
    return why ? 126 : EXIT_NOT_FOUND;
  }
  int fd = connect_socket(socket_path);
  if (fd < 0) {
    fprintf(stderr, "acg: acgd is not reachable at %s (%s)\n  help: start acgd, pass --socket PATH, or run standalone with --policy FILE\n",
            socket_path, strerrorname_np(errno) ? strerrorname_np(errno) : strerror(errno));
    return EXIT_RUN_FAILED;
  }
  struct buf req = {0};
  buf_puts(&req, "{\"op\":\"start_call\"");
  const struct {
    const char *key, *value;
  } fields[] = {{"agent", agent}, {"tenant", tenant}, {"tool", tool}, {"label", label}, {"path", file}};
  for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
    if (!fields[i].value) continue;
    buf_puts(&req, ",");
    buf_json_string(&req, fields[i].key);
    buf_puts(&req, ":");
    buf_json_string(&req, fields[i].value);
  }
  buf_puts(&req, ",\"hints\":[");
  for (int i = 0; i < nhints; i++) {
    if (i) buf_puts(&req, ",");
    buf_json_string(&req, hints[i]);
  }
  buf_puts(&req, "],\"argv\":[");
  for (char **a = cmd; *a; a++) {
    if (a != cmd) buf_puts(&req, ",");
    buf_json_string(&req, *a);
  }
  buf_puts(&req, "]}");
  char *resp = request(fd, &req);
  if (!resp) {
    fprintf(stderr, "acg run: acgd closed the connection: %s\n", strerror(errno));
    return EXIT_RUN_FAILED;
  }
  if (!get_true(resp, "ok", 1)) {
    char *msg = get_string(resp, "message", 2);
    fprintf(stderr, "acg run: %s\n", msg ? msg : resp);
    return EXIT_RUN_FAILED;
  }
  char *call = get_string(resp, "call", 2), *cgroup = get_string(resp, "cgroup", 2);
  if (!call || !cgroup) {
    fprintf(stderr, "acg run: acgd's answer has no call or cgroup: %.200s\n", resp);
    return EXIT_RUN_FAILED;
  }
  // Formatted before clone3: the child only writes it.
  char oom_text[16] = "";
  double adj = get_number(resp, "oomScoreAdj", 2);
  // acgd gives 0..800 (get_number says -1 when absent: an older acgd).
  if (adj >= 0 && adj <= 1000) snprintf(oom_text, sizeof oom_text, "%d", (int)adj);
  int exit_code = 0;
  int status = run_in_cgroup(file, cmd, cgroup, oom_text, &exit_code);
  req.len = 0;
  buf_puts(&req, "{\"op\":\"end_call\",\"call\":");
  buf_json_string(&req, call);
  buf_puts(&req, "}");
  char *end = request(fd, &req);
  if (status < 0) return exit_code;
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (!end || !get_true(end, "ok", 1)) {
    // The command ran; its status is still the agent's answer even if the report is lost.
    char *msg = end ? get_string(end, "message", 2) : NULL;
    fprintf(stderr, "acg run: no report for %s: %s\n", call, msg ? msg : end ? end : strerror(errno));
    return code;
  }
  report(end, status, json_mode, quiet);
  close(fd);
  return code;
}
