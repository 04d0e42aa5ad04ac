// Pass 0: reading a policy file. Every way a path can fail to be a policy
// (missing, a directory, too large, binary, not UTF-8, empty) becomes a diagnostic.

import { readFileSync, statSync } from "node:fs";
import { SourceFile } from "./source.js";
import type { Diagnostic } from "./diagnostics.js";

/** Policies are hand-written; anything larger is not one. */
export const MAX_POLICY_BYTES = 1024 * 1024;

export type ReadResult = { ok: true; file: SourceFile } | { ok: false; diagnostic: Diagnostic; file?: SourceFile };

export function readSource(path: string): ReadResult {
  const fail = (code: string, message: string, help?: string): ReadResult => {
    const d: Diagnostic = { severity: "error", code, message };
    if (help) d.help = help;
    return { ok: false, diagnostic: d };
  };
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return fail("E0001", "no such file", "check the path");
    if (code === "EACCES") return fail("E0001", "permission denied", "make the file readable or run with more privileges");
    return fail("E0001", `cannot read: ${code ?? String(e)}`);
  }
  if (st.isDirectory()) return fail("E0001", "is a directory, not a policy file", `to check every policy in it: acgc check ${path.replace(/\/$/, "")}/*.acg`);
  if (!st.isFile()) return fail("E0001", "is not a regular file");
  if (st.size > MAX_POLICY_BYTES) return fail("E0003", `file is too large (${(st.size / 1024 / 1024).toFixed(1)} MiB; policies are at most 1 MiB)`, "is this the right file? policies are hand-written text");
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    return fail("E0001", `cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  return decode(path, bytes);
}

export function decode(path: string, bytes: Buffer): ReadResult {
  const nul = bytes.indexOf(0);
  const bad = firstInvalidUtf8(bytes);
  if (nul >= 0 || bad >= 0) {
    const at = nul >= 0 && (bad < 0 || nul < bad) ? nul : bad;
    // Locate the offending byte in the text that precedes it, which is valid.
    const file = new SourceFile(path, bytes.subarray(0, at).toString("utf8") + " ");
    const offset = file.text.length - 1;
    const d: Diagnostic =
      at === nul
        ? { severity: "error", code: "E0004", message: "binary data (a NUL byte) in a policy file", span: { start: offset, end: offset + 1 }, help: "policies are UTF-8 text; is this the right file?" }
        : { severity: "error", code: "E0002", message: `invalid UTF-8 (byte 0x${bytes[at]!.toString(16).padStart(2, "0")} at offset ${at})`, span: { start: offset, end: offset + 1 }, help: "save the file as UTF-8" };
    return { ok: false, diagnostic: d, file };
  }
  let text = bytes.toString("utf8");
  if (text.charCodeAt(0) === 0xfeff) text = " " + text.slice(1); // keep offsets: BOM becomes a blank
  const file = new SourceFile(path, text);
  if (text.trim() === "") {
    return { ok: false, file, diagnostic: { severity: "error", code: "E0005", message: "empty policy file", help: "start with `version 1` and a `policy NAME { ... }` block; see policies/minimal.acg" } };
  }
  return { ok: true, file };
}

/** Offset of the first byte that is not part of valid UTF-8, or -1. */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) { i++; continue; }
    let n: number;
    let min: number;
    if (c >= 0xc2 && c <= 0xdf) { n = 1; min = 0x80; }
    else if (c >= 0xe0 && c <= 0xef) { n = 2; min = 0x800; }
    else if (c >= 0xf0 && c <= 0xf4) { n = 3; min = 0x10000; }
    else return i;
    let cp = c & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const cc = b[i + k];
      if (cc === undefined || (cc & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return -1;
}
