import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BpfMap, numPossibleCpus } from "../../runtime/bpf-map.js";
import { BpfObject } from "../../runtime/bpf-object.js";
import { compileFixture, mountBpffs } from "./helpers.js";

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const u64 = (n: bigint): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(n);
  return b;
};

describe("maps", () => {
  let objPath: string;
  let fs: { dir: string; cleanup: () => void };
  beforeAll(() => {
    objPath = compileFixture("maps");
    fs = mountBpffs();
  });
  afterAll(() => fs.cleanup());

  it("describes maps including data sections before load", () => {
    const o = BpfObject.open(objPath);
    const maps = o.maps();
    expect(maps.find((m) => m.name === "shared")).toMatchObject({
      typeName: "hash",
      keySize: 4,
      valueSize: 8,
      maxEntries: 64,
      section: ".maps",
    });
    expect(maps.find((m) => m.section === ".data")).toMatchObject({ internal: true, valueSize: 4 });
    o.close();
  });

  it("lookup/update/delete with flags and iteration", () => {
    const o = BpfObject.open(objPath);
    o.load();
    const m = o.map("shared");
    expect(m.info()).toMatchObject({ typeName: "hash", keySize: 4, valueSize: 8, maxEntries: 64 });
    expect(m.lookup(u32(1))).toBeNull();
    m.update(u32(1), u64(10n));
    m.update(u32(2), u64(20n), "noexist");
    expect(() => m.update(u32(2), u64(21n), "noexist")).toThrow(expect.objectContaining({ code: "EEXIST", op: "bpf_map_update_elem" }));
    expect(() => m.update(u32(3), u64(30n), "exist")).toThrow(expect.objectContaining({ code: "ENOENT" }));
    m.update(u32(2), u64(22n), "exist");
    expect(m.lookup(u32(2))!.readBigUInt64LE(0)).toBe(22n);
    const keys = [...m.keys()].map((k) => k.readUInt32LE(0)).sort();
    expect(keys).toEqual([1, 2]);
    const dumped = new Map(m.dump().map(([k, v]) => [k.readUInt32LE(0), v.readBigUInt64LE(0)]));
    expect(dumped).toEqual(
      new Map([
        [1, 10n],
        [2, 22n],
      ]),
    );
    m.updateBatch([
      [u32(5), u64(50n)],
      [u32(6), u64(60n)],
    ]);
    expect(m.lookup(u32(6))!.readBigUInt64LE(0)).toBe(60n);
    expect(m.delete(u32(1))).toBe(true);
    expect(m.delete(u32(1))).toBe(false);
    expect([...m.entries()].length).toBe(3);

    // arrays, per-CPU arrays and the .data/.bss globals
    const arr = o.map("arr");
    arr.update(u32(3), u64(33n));
    expect(arr.lookup(u32(3))!.readBigUInt64LE(0)).toBe(33n);
    expect(() => arr.update(u32(9), u64(1n))).toThrow(expect.objectContaining({ code: "E2BIG" }));
    const pc = o.map("pcpu");
    expect(pc.info().userValueSize).toBe(8 * numPossibleCpus());
    expect(pc.lookup(u32(0))!.length).toBe(8 * numPossibleCpus());
    expect(o.map(".data").lookup(u32(0))!.readUInt32LE(0)).toBe(7);

    // sizes are checked before the kernel reads our buffers
    expect(() => m.lookup(Buffer.alloc(2))).toThrow(TypeError);
    expect(() => m.update(u32(1), Buffer.alloc(3))).toThrow(TypeError);
    expect(() => m.update(u32(1), u64(1n), "sometimes" as never)).toThrow(TypeError);
    expect(() => o.map("no_such_map")).toThrow(expect.objectContaining({ code: "ENOENT" }));
    o.close();
    expect(() => m.lookup(u32(1))).toThrow(expect.objectContaining({ code: "EBADF" }));
  });

  it("pins, reopens by path, and reuses a pinned map in a new object (hot-swap)", () => {
    const pin = join(fs.dir, "shared");
    const a = BpfObject.open(objPath);
    a.load();
    a.map("shared").update(u32(42), u64(4242n));
    a.map("shared").pin(pin);
    a.close();

    const byPath = BpfMap.openPinned(pin);
    expect(byPath.info().name).toBe("shared");
    expect(byPath.lookup(u32(42))!.readBigUInt64LE(0)).toBe(4242n);

    const b = BpfObject.open(objPath);
    b.reuseMap("shared", byPath);
    b.load();
    expect(b.map("shared").lookup(u32(42))!.readBigUInt64LE(0)).toBe(4242n);
    b.map("shared").update(u32(43), u64(1n));
    expect(byPath.lookup(u32(43))).not.toBeNull();
    expect(b.map("shared").info().id).toBe(byPath.info().id);
    b.close();
    byPath.close();
    BpfMap.unpin(pin);
    expect(() => BpfMap.openPinned(pin)).toThrow(expect.objectContaining({ code: "ENOENT", op: "bpf_obj_get" }));
  });

  it("rejects reuse of an incompatible map", () => {
    const a = BpfObject.open(objPath);
    a.load();
    const b = BpfObject.open(objPath);
    expect(() => b.reuseMap("shared", a.map("arr"))).toThrow(
      expect.objectContaining({ code: "EINVAL", op: "bpf_map__reuse_fd", message: expect.stringMatching(/type hash != array/) }),
    );
    // the same map is accepted
    b.reuseMap("arr", a.map("arr"));
    b.load();
    a.map("arr").update(u32(1), u64(5n));
    expect(b.map("arr").lookup(u32(1))!.readBigUInt64LE(0)).toBe(5n);
    a.close();
    b.close();
  });
});
