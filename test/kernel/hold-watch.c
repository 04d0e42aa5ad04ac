// hold-watch DOMAIN FREEZE_CGROUP OUT: the userspace hold path at its
// fastest, to compare the scheduler's hold with. Waits (inotify) for the
// domain's memory.events to count a 'high' event (a memory.high tripwire at
// the watermark), then writes 1 to FREEZE_CGROUP/cgroup.freeze and writes
// {woke ns, freeze written ns} (CLOCK_MONOTONIC, two little-endian u64) to OUT.
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

// The 'high' count of a memory.events file.
static long high_events(const char *path) {
  char buf[512];
  int fd = open(path, O_RDONLY);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  char *p = strstr(buf, "\nhigh ");
  return p ? atol(p + 6) : -1;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: hold-watch DOMAIN FREEZE_CGROUP OUT\n");
    return 2;
  }
  char events[4096], freeze[4096];
  snprintf(events, sizeof(events), "%s/memory.events", argv[1]);
  snprintf(freeze, sizeof(freeze), "%s/cgroup.freeze", argv[2]);
  int in = inotify_init1(0);
  if (in < 0 || inotify_add_watch(in, events, IN_MODIFY) < 0) {
    perror("hold-watch: inotify");
    return 2;
  }
  long base = high_events(events);
  char ev[4096];
  while (high_events(events) <= base) {
    if (read(in, ev, sizeof(ev)) <= 0) return 3;
  }
  uint64_t woke = now_ns();
  int fd = open(freeze, O_WRONLY);
  if (fd < 0 || write(fd, "1", 1) != 1) {
    perror("hold-watch: cgroup.freeze");
    return 4;
  }
  close(fd);
  uint64_t rec[2] = {woke, now_ns()};
  int out = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (out < 0 || write(out, rec, sizeof(rec)) != sizeof(rec)) return 5;
  close(out);
  return 0;
}
