// The allocator on the host (no memory controller here, but it still allocates
// and reports): resident memory follows the curve, every step is recorded, a
// SIGTERM still writes the summary, bad input is refused.
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseAllocLog } from "../../bench/alloc-log.js";

let bin: string;
let dir: string;

beforeAll(() => {
  const out = execFileSync("bash", ["bench/alloc/build.sh"], { encoding: "utf8" }).trim();
  bin = join(out, "acg-alloc");
  dir = mkdtempSync(join(tmpdir(), "acg-alloc-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function rssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]);
}

describe("acg-alloc", () => {
  it("grows to the curve's scaled target, holds it, shrinks, and logs every chunk", async () => {
    const curve = join(dir, "c.txt");
    // 64 MiB at t=0 held until t=20 s, then 16 MiB until 40 s; scale 1/2, speed 10: 32 MiB for 2 s, then 8 MiB for 2 s.
    writeFileSync(curve, `# test curve\n0 ${64 * 2 ** 20}\n20 ${16 * 2 ** 20}\n40 0\n`);
    const out = join(dir, "a.jsonl");
    const p = spawn(bin, ["--curve", curve, "--scale", "0.5", "--speed", "10", "--chunk", String(2 ** 20), "--out", out, "--label", "t1"], {
      stdio: "ignore",
    });
    await sleep(800);
    const rss = rssKb(p.pid!);
    expect(rss).toBeGreaterThan(32 * 1024);
    expect(rss).toBeLessThan(40 * 1024);
    await sleep(1700);
    expect(rssKb(p.pid!)).toBeLessThan(16 * 1024);
    const code = await new Promise<number | null>((r) => p.on("exit", r));
    expect(code).toBe(0);
    const log = parseAllocLog(readFileSync(out, "utf8"));
    expect(log.grows.length).toBe(32);
    expect(log.shrinks.length).toBe(32);
    expect(log.summary?.completed).toBe(true);
    expect(log.summary?.label).toBe("t1");
    expect(log.summary?.peak_bytes).toBe(32 * 2 ** 20);
    expect(log.summary?.nominal_ms).toBeCloseTo(4000, 3);
    expect(log.summary?.duration_ms).toBeGreaterThanOrEqual(4000);
    expect(log.grows.every((g) => g.lat_us > 0)).toBe(true);
  });

  it("makes the memory resident whichever way it faults it in: populate, page by page, huge pages", async () => {
    const curve = join(dir, "ways.txt");
    writeFileSync(curve, `0 ${24 * 2 ** 20}\n10 0\n`);
    for (const way of [
      ["--touch", "0"],
      ["--touch", "1"],
      ["--hugepage", "1", "--chunk", String(2 ** 21)],
    ]) {
      const p = spawn(bin, ["--curve", curve, "--speed", "10", ...way], { stdio: "ignore" });
      await sleep(500);
      // Resident, not just mapped: the pages were faulted in (a huge page counts whole).
      expect(rssKb(p.pid!), way.join(" ")).toBeGreaterThanOrEqual(24 * 1024);
      expect(rssKb(p.pid!), way.join(" ")).toBeLessThan(32 * 1024);
      expect(await new Promise<number | null>((r) => p.on("exit", r))).toBe(0);
    }
    expect(spawnSync(bin, ["--curve", curve, "--touch", "x"], { encoding: "utf8" }).stderr).toMatch(/--touch: not a non-negative number/);
  });

  it("writes the summary on SIGTERM, exits 143, and ignores argv after --", async () => {
    const curve = join(dir, "long.txt");
    writeFileSync(curve, `0 ${4 * 2 ** 20}\n100 0\n`);
    const link = join(dir, "pytest");
    symlinkSync(bin, link);
    const out = join(dir, "b.jsonl");
    const p = spawn(link, ["--curve", curve, "--out", out, "--", "-x", "tests/", "--bogus"], { stdio: "ignore" });
    await sleep(300);
    p.kill("SIGTERM");
    const code = await new Promise<number | null>((r) => p.on("exit", r));
    expect(code).toBe(143);
    const log = parseAllocLog(readFileSync(out, "utf8"));
    expect(log.summary?.completed).toBe(false);
    expect(log.summary?.signal).toBe(15);
    expect(log.grows.length).toBe(4);
  });

  it("reads the curve from stdin", () => {
    const r = spawnSync(bin, ["--curve", "-", "--out", "-"], { input: "0 1048576\n0.01 0\n", encoding: "utf8" });
    expect(r.status).toBe(0);
    const log = parseAllocLog(r.stdout);
    expect(log.grows.length).toBe(1);
    expect(log.summary?.completed).toBe(true);
  });

  it("refuses bad input with exit status 2 and a message", () => {
    const back = spawnSync(bin, ["--curve", "-"], { input: "5 100\n1 100\n", encoding: "utf8" });
    expect(back.status).toBe(2);
    expect(back.stderr).toContain("goes back");
    const junk = spawnSync(bin, ["--curve", "-"], { input: "hello\n", encoding: "utf8" });
    expect(junk.status).toBe(2);
    expect(junk.stderr).toContain("expected 'SECONDS BYTES'");
    const opt = spawnSync(bin, ["--curve", "-", "--speed", "fast"], { input: "", encoding: "utf8" });
    expect(opt.status).toBe(2);
    expect(spawnSync(bin, [], { encoding: "utf8" }).status).toBe(2);
  });
});
