import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BpfLink } from "../../runtime/bpf-link.js";
import { BpfObject } from "../../runtime/bpf-object.js";
import { availableCongestionControls, compileFixture, mountBpffs } from "./helpers.js";

const CC = "acg_test_cc";

describe("struct_ops links (tcp_congestion_ops)", () => {
  let obj: string;
  let fs: { dir: string; cleanup: () => void };
  beforeAll(() => {
    obj = compileFixture("tcp_cc");
    fs = mountBpffs();
  });
  afterAll(() => fs.cleanup());

  it("lists programs and the struct_ops map before load", () => {
    const o = BpfObject.open(obj);
    try {
      expect(
        o
          .programs()
          .map((p) => p.name)
          .sort(),
      ).toEqual(["acg_cong_avoid", "acg_ssthresh", "acg_undo_cwnd"]);
      expect(o.programs().every((p) => p.typeName === "struct_ops")).toBe(true);
      const m = o.maps().find((x) => x.name === CC);
      expect(m).toMatchObject({ section: ".struct_ops.link", typeName: "struct_ops", maxEntries: 1 });
      expect(o.loaded).toBe(false);
    } finally {
      o.close();
    }
  });

  it("attaches as a link, shows in the available list, detaches and is gone", () => {
    const o = BpfObject.open(obj, { collectStats: true });
    o.load();
    const stats = o.programStats();
    expect(stats).toHaveLength(3);
    for (const s of stats) {
      expect(s.verifiedInsns).toBeGreaterThan(0);
      expect(s.loadTimeNs).toBeGreaterThan(0);
      expect(s.verificationTimeUs).toBeGreaterThanOrEqual(0);
    }
    expect(availableCongestionControls()).not.toContain(CC);
    const link = o.attachStructOps(CC);
    try {
      expect(availableCongestionControls()).toContain(CC);
      const info = link.info();
      expect(info.typeName).toBe("struct_ops");
      expect(info.attached).toBe(true);
      expect(info.structOpsMapId).toBeGreaterThan(0);
      link.detach();
      expect(availableCongestionControls()).not.toContain(CC);
      expect(link.info().attached).toBe(false);
    } finally {
      link.destroy();
      o.close();
    }
    expect(link.closed).toBe(true);
    link.destroy(); // idempotent
  });

  it("a pinned link survives destroy of the handle and object close, and can be re-adopted", () => {
    const pin = join(fs.dir, "cc_link");
    const o = BpfObject.open(obj);
    o.load();
    const link = o.attachStructOps(CC);
    link.pin(pin);
    expect(link.pinPath).toBe(pin);
    link.destroy();
    o.close();
    expect(availableCongestionControls()).toContain(CC);

    const again = BpfLink.openPinned(pin);
    expect(again.info().attached).toBe(true);
    again.unpin();
    again.destroy();
    expect(availableCongestionControls()).not.toContain(CC);
  });

  it("reports errors for wrong map kinds and closed objects", () => {
    const o = BpfObject.open(obj);
    expect(() => o.attachStructOps(CC)).toThrow(/not loaded/);
    o.load();
    expect(() => o.attachStructOps("nope")).toThrow(expect.objectContaining({ code: "ENOENT" }));
    o.close();
    expect(() => o.attachStructOps(CC)).toThrow(expect.objectContaining({ code: "EBADF" }));
    expect(() => BpfLink.openPinned(join(fs.dir, "missing"))).toThrow(expect.objectContaining({ code: "ENOENT", op: "bpf_link__open" }));
  });
});
