// acg-alloc: makes a real process follow a memory curve, so the kernel (and a
// memory cgroup) sees real anonymous usage, and records how long each
// allocation step took.
//
//   acg-alloc --curve FILE|- [--speed F] [--scale F] [--chunk BYTES]
//             [--out FILE|-] [--label TEXT] [--cgroup DIR] [--oom-score-adj N] [--hold S]
//             [--touch 0|1] [--hugepage 0|1] [-- ARGS...]
//
// The curve is text, one point a line: "SECONDS BYTES" (time offset from the
// start, target resident bytes); '#' starts a comment; points must not go back
// in time. At offset t/speed the process grows or shrinks to BYTES*scale,
// rounded to whole chunks: growing mmaps (or reuses) a chunk and faults every
// page of it in: one madvise(MADV_POPULATE_WRITE) for the whole chunk (one
// kernel entry instead of one page fault per page, which under an emulated
// CPU is what lets a replay at 1/8 scale keep up with its trace), or, where the
// kernel lacks it or with --touch, by writing one byte per page; with
// --hugepage the chunk is 2 MiB-aligned and madvise(MADV_HUGEPAGE)d, so
// transparent huge pages back it when the kernel allows; shrinking madvise(MADV_DONTNEED)s
// the newest chunk (its pages go back to the kernel at once; the mapping is
// kept for reuse). Each step's latency (clock_gettime around the mmap and the
// page touching of one chunk) is written to --out as JSON lines as the replay
// goes (flushed after every curve point, so an OOM kill loses at most one
// point), then a summary line at the end, also on SIGTERM/SIGINT.
//
// Arguments after `--` are ignored: a replay driver passes the traced
// command's argv there (and may start the allocator through a symlink named
// after the command), so that policy matchers on exe and argv see them.
//
// Exit status: 0 curve completed, 143 stopped by SIGTERM (130 SIGINT),
// 2 usage or input error, 3 out of address space (mmap failed).

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

struct point {
  double t;
  double bytes;
};

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) { g_stop = sig; }

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die_usage(const char *msg) {
  fprintf(stderr, "acg-alloc: %s\n", msg);
  fprintf(
      stderr,
      "usage: acg-alloc --curve FILE|- [--speed F] [--scale F] [--chunk BYTES] [--out FILE|-]\n"
      "                 [--label TEXT] [--cgroup DIR] [--oom-score-adj N] [--hold SECONDS] [--touch 0|1] [--hugepage 0|1] [-- ARGS...]\n");
  exit(2);
}

static double parse_num(const char *s, const char *what) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !(v >= 0)) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s: not a non-negative number: '%s'", what, s);
    die_usage(buf);
  }
  return v;
}

static struct point *read_curve(FILE *f, size_t *n_out) {
  size_t cap = 256, n = 0;
  struct point *p = malloc(cap * sizeof *p);
  char line[512];
  unsigned lineno = 0;
  double last_t = -1;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    char *hash = strchr(line, '#');
    if (hash) *hash = 0;
    char *s = line;
    while (*s == ' ' || *s == '\t') s++;
    if (*s == 0 || *s == '\n' || *s == '\r') continue;
    double t, b;
    if (sscanf(s, "%lf %lf", &t, &b) != 2 || !(t >= 0) || !(b >= 0)) {
      fprintf(stderr, "acg-alloc: curve line %u: expected 'SECONDS BYTES', got: %s", lineno, line);
      exit(2);
    }
    if (t < last_t) {
      fprintf(stderr, "acg-alloc: curve line %u: time %.3f goes back before %.3f\n", lineno, t, last_t);
      exit(2);
    }
    last_t = t;
    if (n == cap) p = realloc(p, (cap *= 2) * sizeof *p);
    p[n++] = (struct point){t, b};
  }
  *n_out = n;
  return p;
}

// Latency records, written to the output as the replay goes.
static int g_out = -1;
static char g_buf[1 << 16];
static size_t g_buf_len;

static void out_flush(void) {
  size_t off = 0;
  while (g_out >= 0 && off < g_buf_len) {
    ssize_t w = write(g_out, g_buf + off, g_buf_len - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      break;
    }
    off += (size_t)w;
  }
  g_buf_len = 0;
}

static void out_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out_printf(const char *fmt, ...) {
  if (g_out < 0) return;
  if (g_buf_len > sizeof g_buf - 512) out_flush();
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(g_buf + g_buf_len, sizeof g_buf - g_buf_len, fmt, ap);
  va_end(ap);
  if (k > 0) g_buf_len += (size_t)k < sizeof g_buf - g_buf_len ? (size_t)k : sizeof g_buf - g_buf_len - 1;
}

// Latencies kept in memory too, for the summary's quantiles.
static double *g_lat;
static size_t g_lat_n, g_lat_cap;

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double quantile(double *sorted, size_t n, double q) {
  if (n == 0) return 0;
  double pos = (double)(n - 1) * q;
  size_t lo = (size_t)pos;
  size_t hi = lo + 1 < n ? lo + 1 : lo;
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - (double)lo);
}

static void json_str(const char *s) {
  out_printf("\"");
  for (; *s; s++) {
    if (*s == '"' || *s == '\\')
      out_printf("\\%c", *s);
    else if ((unsigned char)*s < 0x20)
      out_printf("\\u%04x", *s);
    else
      out_printf("%c", *s);
  }
  out_printf("\"");
}

#define HUGE_2M ((size_t)2 << 20)

// One chunk of anonymous memory; with `huge`, 2 MiB-aligned and marked for
// transparent huge pages (mapped larger, the unaligned ends unmapped).
static char *map_chunk(size_t chunk, int huge) {
  if (!huge) {
    char *c = mmap(NULL, chunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return c == MAP_FAILED ? NULL : c;
  }
  char *raw = mmap(NULL, chunk + HUGE_2M, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return NULL;
  char *c = (char *)(((uintptr_t)raw + HUGE_2M - 1) & ~(uintptr_t)(HUGE_2M - 1));
  if (c > raw) munmap(raw, (size_t)(c - raw));
  size_t tail = (size_t)(raw + chunk + HUGE_2M - (c + chunk));
  if (tail) munmap(c + chunk, tail);
  madvise(c, chunk, MADV_HUGEPAGE);
  return c;
}

int main(int argc, char **argv) {
  const char *curve_path = NULL, *out_path = NULL, *label = "", *cgroup = NULL, *oom_score_adj = NULL;
  double speed = 1, scale = 1, hold = 0;
  int touch = 0, hugepage = 0;
  size_t chunk = 1 << 20;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--")) break;
    if (i + 1 >= argc) die_usage("missing value after an option (or unknown argument)");
    const char *v = argv[++i];
    if (!strcmp(a, "--curve"))
      curve_path = v;
    else if (!strcmp(a, "--out"))
      out_path = v;
    else if (!strcmp(a, "--label"))
      label = v;
    else if (!strcmp(a, "--cgroup"))
      cgroup = v;
    else if (!strcmp(a, "--oom-score-adj"))
      oom_score_adj = v;
    else if (!strcmp(a, "--speed"))
      speed = parse_num(v, "--speed");
    else if (!strcmp(a, "--scale"))
      scale = parse_num(v, "--scale");
    else if (!strcmp(a, "--hold"))
      hold = parse_num(v, "--hold");
    else if (!strcmp(a, "--chunk"))
      chunk = (size_t)parse_num(v, "--chunk");
    else if (!strcmp(a, "--touch"))
      touch = parse_num(v, "--touch") != 0;
    else if (!strcmp(a, "--hugepage"))
      hugepage = parse_num(v, "--hugepage") != 0;
    else {
      char buf[256];
      snprintf(buf, sizeof buf, "unknown option '%s'", a);
      die_usage(buf);
    }
  }
  if (!curve_path) die_usage("--curve is required");
  if (!(speed > 0)) die_usage("--speed must be > 0");
  long page = sysconf(_SC_PAGESIZE);
  if (chunk < (size_t)page) chunk = (size_t)page;
  chunk = (chunk + (size_t)page - 1) / (size_t)page * (size_t)page;

  FILE *cf = strcmp(curve_path, "-") ? fopen(curve_path, "r") : stdin;
  if (!cf) {
    fprintf(stderr, "acg-alloc: cannot open curve %s: %s\n", curve_path, strerror(errno));
    return 2;
  }
  size_t npts;
  struct point *pts = read_curve(cf, &npts);
  if (cf != stdin) fclose(cf);

  if (out_path && !strcmp(out_path, "-"))
    g_out = STDOUT_FILENO;
  else if (out_path) {
    g_out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (g_out < 0) {
      fprintf(stderr, "acg-alloc: cannot open %s: %s\n", out_path, strerror(errno));
      return 2;
    }
  }
  if (cgroup) {
    char path[4096];
    snprintf(path, sizeof path, "%s/cgroup.procs", cgroup);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    char pid[32];
    int k = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    if (fd < 0 || write(fd, pid, (size_t)k) != k) {
      fprintf(stderr, "acg-alloc: cannot join cgroup %s: %s\n", cgroup, strerror(errno));
      return 2;
    }
    close(fd);
  }
  // What `acg run` writes before exec: the kernel's OOM killer is steered by rank and class.
  if (oom_score_adj) {
    int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    size_t n = strlen(oom_score_adj);
    if (fd < 0 || write(fd, oom_score_adj, n) != (ssize_t)n) {
      fprintf(stderr, "acg-alloc: cannot set oom_score_adj %s: %s\n", oom_score_adj, strerror(errno));
      return 2;
    }
    close(fd);
  }

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;  // no SA_RESTART: nanosleep returns EINTR
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  size_t cap = 64, mapped = 0, resident = 0, peak = 0;
  char **chunks = malloc(cap * sizeof *chunks);
  g_lat_cap = 1024;
  g_lat = malloc(g_lat_cap * sizeof *g_lat);
  double start = now_s();
  double max_lag = 0, nominal = npts ? pts[npts - 1].t / speed + hold / speed : 0;
  size_t points_done = 0;
  int rc = 0;

  for (size_t i = 0; i < npts && !g_stop; i++) {
    double due = start + pts[i].t / speed;
    for (;;) {
      double wait = due - now_s();
      if (wait <= 0 || g_stop) break;
      struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
      nanosleep(&ts, NULL);
    }
    if (g_stop) break;
    double lag = now_s() - due;
    if (lag > max_lag) max_lag = lag;
    size_t want = (size_t)(pts[i].bytes * scale / (double)chunk + 0.5);
    while (resident < want && !g_stop) {
      double t0 = now_s();
      char *c;
      if (resident < mapped)
        c = chunks[resident];
      else {
        c = map_chunk(chunk, hugepage);
        if (!c) {
          fprintf(stderr, "acg-alloc: mmap failed: %s\n", strerror(errno));
          rc = 3;
          goto done;
        }
        if (mapped == cap) chunks = realloc(chunks, (cap *= 2) * sizeof *chunks);
        chunks[mapped++] = c;
      }
      // MADV_POPULATE_WRITE (Linux 5.14) faults the chunk in with one call. On
      // an older kernel (EINVAL), or when it fails at the cgroup's limit, the
      // pages are touched one by one: a fault there meets the OOM killer as
      // any program's would.
      if (touch || madvise(c, chunk, MADV_POPULATE_WRITE) != 0)
        for (size_t off = 0; off < chunk; off += (size_t)page) c[off] = (char)(off | 1);
      resident++;
      double t1 = now_s();
      double lat_us = (t1 - t0) * 1e6;
      if (g_lat_n == g_lat_cap) g_lat = realloc(g_lat, (g_lat_cap *= 2) * sizeof *g_lat);
      g_lat[g_lat_n++] = lat_us;
      out_printf("{\"t_ms\":%.3f,\"op\":\"grow\",\"bytes\":%zu,\"lat_us\":%.1f,\"resident\":%zu}\n", (t0 - start) * 1e3, chunk, lat_us,
                 resident * chunk);
    }
    while (resident > want && !g_stop) {
      double t0 = now_s();
      madvise(chunks[resident - 1], chunk, MADV_DONTNEED);
      resident--;
      double t1 = now_s();
      out_printf("{\"t_ms\":%.3f,\"op\":\"shrink\",\"bytes\":%zu,\"lat_us\":%.1f,\"resident\":%zu}\n", (t0 - start) * 1e3, chunk,
                 (t1 - t0) * 1e6, resident * chunk);
    }
    if (resident > peak) peak = resident;
    points_done++;
    out_flush();
  }
  if (!g_stop && hold > 0) {
    double due = now_s() + hold / speed;
    for (;;) {
      double wait = due - now_s();
      if (wait <= 0 || g_stop) break;
      struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
      nanosleep(&ts, NULL);
    }
  }
done:;
  double duration = now_s() - start;
  qsort(g_lat, g_lat_n, sizeof *g_lat, cmp_double);
  int completed = !g_stop && rc == 0 && points_done == npts;
  out_printf("{\"summary\":true,\"label\":");
  json_str(label);
  out_printf(
      ",\"pid\":%d,\"completed\":%s,\"signal\":%d,\"points\":%zu,\"points_done\":%zu,\"steps\":%zu,"
      "\"chunk\":%zu,\"peak_bytes\":%zu,\"duration_ms\":%.3f,\"nominal_ms\":%.3f,\"max_lag_ms\":%.3f,"
      "\"lat_p50_us\":%.1f,\"lat_p95_us\":%.1f,\"lat_p99_us\":%.1f,\"lat_max_us\":%.1f}\n",
      (int)getpid(), completed ? "true" : "false", (int)g_stop, npts, points_done, g_lat_n, chunk, peak * chunk, duration * 1e3,
      nominal * 1e3, max_lag * 1e3, quantile(g_lat, g_lat_n, 0.5), quantile(g_lat, g_lat_n, 0.95), quantile(g_lat, g_lat_n, 0.99),
      g_lat_n ? g_lat[g_lat_n - 1] : 0.0);
  out_flush();
  if (g_out > STDOUT_FILENO) close(g_out);
  if (rc) return rc;
  if (g_stop == SIGTERM) return 143;
  if (g_stop == SIGINT) return 130;
  return 0;
}
