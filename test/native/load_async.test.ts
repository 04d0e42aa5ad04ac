// BpfObject.loadAsync: bpf_object__load on a worker thread (acgd serves while
// the kernel verifies its objects), with the same results and errors as load().
import { afterEach, describe, expect, it } from "vitest";
import { BpfObject } from "../../runtime/bpf-object.js";
import { isBpfError, setLibbpfLogger } from "../../runtime/native-addon.js";
import { compileFixture } from "./helpers.js";

describe("asynchronous load", () => {
  afterEach(() => setLibbpfLogger(null));

  it("loads off the event loop; the object refuses other uses until the load settles", async () => {
    const o = BpfObject.open(compileFixture("maps"));
    const loading = o.loadAsync();
    expect(loading).toBeInstanceOf(Promise);
    expect(o.loaded).toBe(false);
    expect(o.closed).toBe(false);
    expect(() => o.maps()).toThrow(expect.objectContaining({ code: "EBUSY" }));
    expect(() => o.loadAsync()).toThrow(expect.objectContaining({ code: "EBUSY" }));
    await loading;
    expect(o.loaded).toBe(true);
    expect(o.map("shared").fd).toBeGreaterThan(0);
    expect(o.programStats().every((p) => p.loadTimeNs > 0)).toBe(true);
    o.close();
  });

  it("a verifier rejection rejects with the same BpfError as load(), and libbpf's messages reach the logger", async () => {
    const lines: string[] = [];
    setLibbpfLogger((level, msg) => lines.push(`${level}:${msg}`));
    const o = BpfObject.open(compileFixture("bad_prog"));
    const err: unknown = await o.loadAsync().catch((e: unknown) => e);
    expect(isBpfError(err)).toBe(true);
    if (!isBpfError(err)) return;
    expect(err).toMatchObject({ op: "bpf_object__load", errno: 13, code: "EACCES", program: "bad_filter" });
    expect(err.verifierLog).toMatch(/invalid mem access 'map_value_or_null'/);
    expect(err.libbpfLog).toMatch(/bad_filter/);
    expect(o.closed).toBe(true);
    expect(lines.some((l) => l.startsWith("warn:") && l.includes("bad_filter"))).toBe(true);
  });

  it("close() during the load closes the object when the load returns; the promise rejects with ECANCELED", async () => {
    const o = BpfObject.open(compileFixture("maps"));
    const loading = o.loadAsync();
    o.close();
    expect(o.closed).toBe(true);
    await expect(loading).rejects.toMatchObject({ code: "ECANCELED", op: "bpf_object__load" });
    expect(o.closed).toBe(true);
    expect(o.loaded).toBe(false);
    o.close(); // idempotent
  });
});
