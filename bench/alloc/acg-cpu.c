// acg-cpu: a fixed CPU workload for scheduler overhead runs. W worker
// processes each do R rounds of (N iterations of integer work, then a short
// sleep), so the scheduler sees both busy tasks and frequent wake-ups.
// Prints one JSON line: wall time, and per-worker wall times.
//
//   acg-cpu [--workers W] [--rounds R] [--iters N] [--sleep-us S]
// Exit status: 0, or 2 on usage errors.
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  long workers = 4, rounds = 200, iters = 200000, sleep_us = 500;
  for (int i = 1; i + 1 < argc + 1; i++) {
    if (i + 1 >= argc) {
      fprintf(stderr, "acg-cpu: missing value after %s\n", argv[i]);
      return 2;
    }
    long v = strtol(argv[i + 1], NULL, 10);
    if (v < 0) return 2;
    if (!strcmp(argv[i], "--workers"))
      workers = v;
    else if (!strcmp(argv[i], "--rounds"))
      rounds = v;
    else if (!strcmp(argv[i], "--iters"))
      iters = v;
    else if (!strcmp(argv[i], "--sleep-us"))
      sleep_us = v;
    else {
      fprintf(stderr, "acg-cpu: unknown option %s\n", argv[i]);
      return 2;
    }
    i++;
  }
  int fds[2];
  if (pipe(fds)) return 1;
  double t0 = now_s();
  for (long w = 0; w < workers; w++) {
    if (fork() == 0) {
      double s = now_s();
      volatile uint64_t x = (uint64_t)w + 1;
      for (long r = 0; r < rounds; r++) {
        for (long k = 0; k < iters; k++) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        if (sleep_us) usleep((useconds_t)sleep_us);
      }
      double d = now_s() - s;
      if (write(fds[1], &d, sizeof d) != sizeof d) _exit(1);
      _exit(0);
    }
  }
  close(fds[1]);
  printf("{\"workers\":%ld,\"rounds\":%ld,\"iters\":%ld,\"sleep_us\":%ld,\"per_worker_s\":[", workers, rounds, iters, sleep_us);
  double d;
  int first = 1;
  while (read(fds[0], &d, sizeof d) == sizeof d) {
    printf("%s%.4f", first ? "" : ",", d);
    first = 0;
  }
  while (wait(NULL) > 0) {
  }
  printf("],\"wall_s\":%.4f}\n", now_s() - t0);
  return 0;
}
