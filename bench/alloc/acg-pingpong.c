// acg-pingpong: a pipe ping-pong for scheduler overhead runs. Two processes
// pass one byte back and forth R times over two pipes, so every round trip
// is two wake-ups and two context switches and almost no work: the
// scheduler's own path is most of what is measured.
// Prints one JSON line: round trips, wall time, and the share of round trips
// in which both processes ran on the same CPU (the child sends its CPU in the
// byte it returns): under emulation a switch between two processes on one
// CPU costs far more than each waking on its own CPU, so where the pair
// lands decides much of the wall time (docs/benchmark.md).
//
//   acg-pingpong [--rounds R]
// Exit status: 0, 1 on a pipe or fork failure, 2 on usage errors.
#define _GNU_SOURCE
#include <sched.h>
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
  long rounds = 20000;
  for (int i = 1; i < argc; i += 2) {
    if (i + 1 >= argc) {
      fprintf(stderr, "acg-pingpong: missing value after %s\n", argv[i]);
      return 2;
    }
    char *end;
    long v = strtol(argv[i + 1], &end, 10);
    if (*end || v <= 0) {
      fprintf(stderr, "acg-pingpong: %s takes a positive integer, got '%s'\n", argv[i], argv[i + 1]);
      return 2;
    }
    if (!strcmp(argv[i], "--rounds"))
      rounds = v;
    else {
      fprintf(stderr, "acg-pingpong: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  int ping[2], pong[2];
  if (pipe(ping) || pipe(pong)) return 1;
  double t0 = now_s();
  pid_t child = fork();
  if (child < 0) return 1;
  unsigned char b = 0;
  if (child == 0) {
    for (long r = 0; r < rounds; r++) {
      if (read(ping[0], &b, 1) != 1) _exit(1);
      b = (unsigned char)sched_getcpu();
      if (write(pong[1], &b, 1) != 1) _exit(1);
    }
    _exit(0);
  }
  long same_cpu = 0;
  for (long r = 0; r < rounds; r++) {
    if (write(ping[1], &b, 1) != 1 || read(pong[0], &b, 1) != 1) return 1;
    same_cpu += b == (unsigned char)sched_getcpu();
  }
  int status;
  if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status)) return 1;
  printf("{\"rounds\":%ld,\"wall_s\":%.4f,\"same_cpu_share\":%.4f}\n", rounds, now_s() - t0, (double)same_cpu / (double)rounds);
  return 0;
}
