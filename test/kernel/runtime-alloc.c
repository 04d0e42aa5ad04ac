// acg-alloc MIB HOLD_MS: touches MIB MiB of anonymous memory, 1 MiB at a
// time, holds it for HOLD_MS, and prints how long the allocation took (the
// kernel's memory.high throttling shows up as time). A tiny program, so a
// tool call's usage is its allocation, not an interpreter's.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

// Kept in a global so the compiler cannot elide the allocations.
static char *volatile chunks[4096];

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: acg-alloc MIB HOLD_MS\n");
    return 2;
  }
  long mib = atol(argv[1]), hold = atol(argv[2]);
  if (mib < 0 || mib > 4096) return 2;
  double t0 = now_ms();
  for (long i = 0; i < mib; i++) {
    char *p = malloc(1 << 20);
    if (!p) return 3;
    memset(p, (int)i + 1, 1 << 20);
    chunks[i] = p;
  }
  printf("allocated %ld MiB in %.0f ms\n", mib, now_ms() - t0);
  fflush(stdout);
  struct timespec h = {hold / 1000, (hold % 1000) * 1000000L};
  nanosleep(&h, NULL);
  return 0;
}
