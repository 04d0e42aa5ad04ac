import { closeSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { peerCredentialsOf, pidfdExited, psiWatcher } from "../../runtime/native-io.js";

describe("runtime I/O addon", () => {
  it("reads the peer's pid and uid of a Unix socket (SO_PEERCRED)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "acg-peer-"));
    const path = join(dir, "s.sock");
    const cred = await new Promise<ReturnType<typeof peerCredentialsOf>>((resolve) => {
      const server = createServer((c) => {
        resolve(peerCredentialsOf((c as unknown as { _handle: { fd: number } })._handle.fd));
        c.destroy();
        server.close();
      }).listen(path, () => createConnection(path).on("error", () => {}));
    });
    rmSync(dir, { recursive: true, force: true });
    expect(cred).toEqual({ pid: process.pid, uid: process.getuid!(), gid: process.getgid!(), pidfd: expect.any(Number) });
    // SO_PEERPIDFD (Linux 6.5+): a pidfd of the connecting process, still running.
    expect(cred!.pidfd).toBeGreaterThanOrEqual(0);
    expect(pidfdExited(cred!.pidfd)).toBe(false);
    closeSync(cred!.pidfd);
  });

  it("reports why a PSI trigger cannot be registered, with errno code and operation", () => {
    const psi = psiWatcher();
    expect(psi).not.toBeNull();
    expect(() => psi!.watch("/nonexistent/memory.pressure", "some 150000 1000000", () => {})).toThrow(
      expect.objectContaining({ code: "ENOENT", op: "open" }),
    );
    const dir = mkdtempSync(join(tmpdir(), "acg-psi-"));
    const file = join(dir, "memory.pressure");
    writeFileSync(file, "");
    // A regular file takes the write but cannot be polled (epoll refuses regular files).
    expect(() => psi!.watch(file, "some 150000 1000000", () => {})).toThrow(expect.objectContaining({ code: "EPERM", op: "uv_poll_init" }));
    rmSync(dir, { recursive: true, force: true });
    expect(() => peerCredentialsOf(-1)).toThrow(expect.objectContaining({ code: "EBADF", op: "getsockopt" }));
  });
});
