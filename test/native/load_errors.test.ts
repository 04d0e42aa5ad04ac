import { afterEach, describe, expect, it } from "vitest";
import { BpfObject } from "../../runtime/bpf-object.js";
import { isBpfError, native, setLibbpfLogger } from "../../runtime/native-addon.js";
import { compileFixture } from "./helpers.js";

describe("load errors and libbpf logging", () => {
  afterEach(() => setLibbpfLogger(null));

  it("a verifier rejection is a JS Error with errno, code, op and the verifier log", () => {
    const o = BpfObject.open(compileFixture("bad_prog"));
    let err: unknown;
    try {
      o.load();
    } catch (e) {
      err = e;
    }
    expect(isBpfError(err)).toBe(true);
    if (!isBpfError(err)) return;
    expect(err.op).toBe("bpf_object__load");
    expect(err.errno).toBe(13);
    expect(err.code).toBe("EACCES");
    expect(err.program).toBe("bad_filter");
    expect(err.verifierLog).toMatch(/invalid mem access 'map_value_or_null'/);
    expect(err.libbpfLog).toMatch(/bad_filter/);
    expect(o.closed).toBe(true);
  });

  it("routes libbpf messages to the logger instead of stderr", () => {
    const lines: string[] = [];
    setLibbpfLogger((level, msg) => lines.push(`${level}:${msg}`));
    expect(() => BpfObject.open(compileFixture("bad_prog")).load()).toThrow();
    expect(lines.some((l) => l.startsWith("warn:") && l.includes("bad_filter"))).toBe(true);
    // a throwing logger does not break the operation
    setLibbpfLogger(() => {
      throw new Error("logger boom");
    });
    expect(() => BpfObject.open(compileFixture("bad_prog")).load()).toThrow(expect.objectContaining({ code: "EACCES" }));
  });

  it("open failures carry errno and op", () => {
    expect(() => BpfObject.open("/nonexistent/x.bpf.o")).toThrow(expect.objectContaining({ code: "ENOENT", op: "bpf_object__open_file" }));
    let e: unknown;
    try {
      BpfObject.openBuffer(Buffer.from("definitely not an ELF file"));
    } catch (x) {
      e = x;
    }
    expect(isBpfError(e) && e.op === "bpf_object__open_mem" && e.errno > 0).toBe(true);
  });

  it("validates arguments with TypeError", () => {
    const N = native().NativeObject as unknown as new (...a: unknown[]) => unknown;
    expect(() => new N(42)).toThrow(TypeError);
    expect(() => new N("/x", 5)).toThrow(TypeError);
    expect(() => new N("/x", { logLevel: "high" })).toThrow(TypeError);
    expect(() => new N("/x", { logSize: 1 })).toThrow(TypeError);
    expect(() => BpfObject.openBuffer("x" as never)).toThrow(TypeError);
    const o = BpfObject.open(compileFixture("maps"));
    expect(() => o.setInitialValue(".data", "x" as never)).toThrow(TypeError);
    expect(() => o.setInitialValue(".data", Buffer.alloc(1))).toThrow(expect.objectContaining({ code: "EINVAL" }));
    expect(() => o.setMaxEntries("shared", -1)).toThrow(TypeError);
    expect(() => o.reuseMap("shared", -3)).toThrow(TypeError);
    const n = native() as unknown as Record<string, (...a: unknown[]) => unknown>;
    expect(() => n.mapLookup!("fd", Buffer.alloc(4))).toThrow(TypeError);
    expect(() => n.mapLookup!(0, "key")).toThrow(TypeError);
    expect(() => n.mapLookup!(1.5, Buffer.alloc(4))).toThrow(TypeError);
    expect(() => n.setLogCallback!(17)).toThrow(TypeError);
    o.close();
  });

  it("verbose logs and stats are available after a successful load", () => {
    const o = BpfObject.open(compileFixture("exec_events"), { logLevel: 1 });
    o.load();
    expect(o.verifierLog()).toMatch(/processed \d+ insns/);
    expect(o.programStats()[0]).toMatchObject({ name: "on_exec", typeName: "tracing" });
    o.close();
  });
});
