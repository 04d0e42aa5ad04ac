// Shared test helpers: compile BPF fixtures with clang-19, find the cgroup v2
// mount, and mount a private bpffs for pinning tests.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, "../..");
const fixtureDir = join(repoRoot, "test/fixtures/bpf");
const outDir = join(repoRoot, ".cache/bpf-fixtures");

/**
 * Compiles test/fixtures/bpf/<name>.bpf.c (cached by content hash) and
 * returns the object path.
 */
export function compileFixture(name: string): string {
  const src = join(fixtureDir, `${name}.bpf.c`);
  const h = createHash("sha256");
  h.update(readFileSync(src));
  for (const f of readdirSync(fixtureDir).filter((f) => f.endsWith(".h"))) h.update(readFileSync(join(fixtureDir, f)));
  const out = join(outDir, `${name}-${h.digest("hex").slice(0, 16)}.bpf.o`);
  if (existsSync(out)) return out;
  mkdirSync(outDir, { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  execFileSync(
    "clang-19",
    ["-O2", "-g", "-target", "bpf", "-mcpu=v3", "-Wall", "-Werror", "-D__TARGET_ARCH_x86", `-I${fixtureDir}`, "-c", src, "-o", tmp],
    { stdio: ["ignore", "inherit", "inherit"] },
  );
  renameSync(tmp, out);
  return out;
}

/** Mounts a private bpffs in a temp dir; returns its path and an unmount function. */
export function mountBpffs(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "acg-bpffs-"));
  execFileSync("mount", ["-t", "bpf", "bpf", dir]);
  return {
    dir,
    cleanup: () => {
      try {
        execFileSync("umount", [dir]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

export function availableCongestionControls(): string[] {
  return readFileSync("/proc/sys/net/ipv4/tcp_available_congestion_control", "utf8").trim().split(/\s+/);
}
