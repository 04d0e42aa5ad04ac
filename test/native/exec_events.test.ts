import { describe, expect, it } from "vitest";
import { BpfObject } from "../../runtime/bpf-object.js";
import { RingBuffer } from "../../runtime/ring-buffer.js";
import { spawnInCgroup, waitPidfd } from "../../runtime/spawn.js";
import { closeSync, readFileSync } from "node:fs";
import { waitUntil } from "../wait.js";
import { compileFixture } from "./helpers.js";

describe("tp_btf/sched_process_exec + ring buffer + hash map", () => {
  it("delivers an exec event asynchronously and counts it", async () => {
    const o = BpfObject.openBuffer(readFileSync(compileFixture("exec_events")));
    const rodata = o.maps().find((m) => m.section === ".rodata");
    expect(rodata).toBeDefined();
    const magic = Buffer.alloc(8);
    magic.writeBigUInt64LE(0xacc0ffeen);
    o.setInitialValue(".rodata", magic);
    expect(o.initialValue(".rodata")?.readBigUInt64LE(0)).toBe(0xacc0ffeen);
    o.load();
    const link = o.attachProgram("on_exec");
    const events: Array<{ magic: bigint; pid: number; comm: string }> = [];
    const rb = new RingBuffer(o.map("events"), (rec) => {
      events.push({
        magic: rec.readBigUInt64LE(0),
        pid: rec.readUInt32LE(8),
        comm: rec.subarray(16, 32).toString("latin1").replace(/\0.*$/s, ""),
      });
    });
    try {
      const child = spawnInCgroup({ file: "/bin/true", argv: ["true"] });
      const st = await waitPidfd(child.pidfd);
      closeSync(child.pidfd);
      expect(st.code).toBe(0);
      // Records arrive through the event loop (uv_poll), not by polling here.
      expect(await waitUntil(() => events.some((e) => e.pid === child.pid), 5000)).toBe(true);
      const ev = events.find((e) => e.pid === child.pid)!;
      expect(ev.magic).toBe(0xacc0ffeen);
      expect(ev.comm).toBe("true");

      const key = Buffer.alloc(4);
      key.writeUInt32LE(child.pid);
      const cnt = o.map("exec_count").lookup(key);
      expect(cnt?.readBigUInt64LE(0)).toBe(1n);

      const bss = o.map(".bss").lookup(Buffer.alloc(4));
      expect(bss!.readBigUInt64LE(0)).toBeGreaterThanOrEqual(1n);
      expect(o.programStats()[0]!.runCnt).toBeGreaterThanOrEqual(0);
    } finally {
      rb.close();
      expect(rb.closed).toBe(true);
      link.destroy();
      o.close();
    }
  });

  it("validates ring buffer arguments", () => {
    expect(() => new RingBuffer({} as never, () => {})).toThrow(TypeError);
  });
});
