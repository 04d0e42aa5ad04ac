// wake-exec MS [PATH ARGS...]: for MS milliseconds, spins 200 us and sleeps
// 300 us in turn, so it wakes thousands of times a second on an idle CPU
// (where the scheduler's select_cpu() places it directly); then, if PATH is
// given, execs PATH with ARGS (argv[0] = PATH). The kernel suite's placement
// tests run it in a tool call whose class changes, and exec it under a name
// the exec classifier knows (test/kernel/suite.ts).
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
  if (argc < 2 || atoi(argv[1]) <= 0) {
    fprintf(stderr, "usage: wake-exec MS [PATH ARGS...]\n");
    return 2;
  }
  const double end = now_ms() + atoi(argv[1]);
  const struct timespec nap = {0, 300 * 1000};
  while (now_ms() < end) {
    const double spin = now_ms() + 0.2;
    while (now_ms() < spin) {
    }
    nanosleep(&nap, NULL);
  }
  if (argc > 2) {
    execv(argv[2], argv + 2);
    perror("wake-exec: execv");
    return 1;
  }
  return 0;
}
