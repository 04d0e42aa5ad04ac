// hold-alloc DOMAIN_MEMORY_CURRENT MIB CHUNK_KIB OUT: touches MIB MiB of
// anonymous memory CHUNK_KIB at a time and, after each chunk, appends a
// record to OUT: {CLOCK_MONOTONIC ns, the domain's memory.current, bytes
// touched so far} (three little-endian u64). Then it stays (pause) until
// killed, keeping the memory. The kernel suite reads OUT to see when the
// domain crossed a watermark and when the allocator stopped making progress
// (test/kernel/hold.ts). CLOCK_MONOTONIC is the clock of bpf_ktime_get_ns(),
// so the scheduler's own timestamps compare with these.
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static uint64_t read_u64(int fd) {
  char buf[32];
  ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0) return 0;
  buf[n] = 0;
  return strtoull(buf, NULL, 10);
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: hold-alloc DOMAIN_MEMORY_CURRENT MIB CHUNK_KIB OUT\n");
    return 2;
  }
  long mib = atol(argv[2]), chunk_kib = atol(argv[3]);
  if (mib <= 0 || mib > 4096 || chunk_kib <= 0 || chunk_kib > 65536) return 2;
  int cur = open(argv[1], O_RDONLY);
  int out = open(argv[4], O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
  if (cur < 0 || out < 0) {
    perror("hold-alloc: open");
    return 2;
  }
  size_t total = (size_t)mib << 20, chunk = (size_t)chunk_kib << 10;
  char *mem = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    perror("hold-alloc: mmap");
    return 3;
  }
  for (size_t done = 0; done < total;) {
    size_t end = done + chunk < total ? done + chunk : total;
    for (size_t i = done; i < end; i += 4096) mem[i] = (char)(i >> 12 | 1);
    done = end;
    uint64_t rec[3] = {now_ns(), read_u64(cur), done};
    if (write(out, rec, sizeof(rec)) != sizeof(rec)) return 4;
  }
  for (;;) pause();
}
