// Pass 0: reading a policy file. Every way a path can fail to be a policy
// (missing, a directory, too large, binary, not UTF-8, empty) becomes a diagnostic.

import { readFileSync, statSync } from "node:fs";
import { SourceFile } from "./source.js";
import { M } from "./diagnostic-messages.js";
import { diagnostic, type Diagnostic } from "./diagnostics.js";

/** Policies are hand-written; anything larger is not one. */
export const MAX_POLICY_BYTES = 1024 * 1024;

export type ReadResult = { ok: true; file: SourceFile } | { ok: false; diagnostic: Diagnostic; file?: SourceFile };

export function readSource(path: string): ReadResult {
  const fail = (d: Diagnostic): ReadResult => ({ ok: false, diagnostic: d });
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return fail(diagnostic(M.FileNotFound, undefined));
    if (code === "EACCES") return fail(diagnostic(M.PermissionDenied, undefined));
    return fail(diagnostic(M.CannotRead, undefined, { reason: code ?? String(e) }));
  }
  if (st.isDirectory()) return fail(diagnostic(M.IsDirectory, undefined, { dir: path.replace(/\/$/, "") }));
  if (!st.isFile()) return fail(diagnostic(M.NotRegularFile, undefined));
  if (st.size > MAX_POLICY_BYTES) return fail(diagnostic(M.FileTooLarge, undefined, { mib: (st.size / 1024 / 1024).toFixed(1) }));
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    return fail(diagnostic(M.CannotRead, undefined, { reason: (e as NodeJS.ErrnoException).code ?? String(e) }));
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
    const span = { start: offset, end: offset + 1 };
    const d =
      at === nul
        ? diagnostic(M.BinaryFile, span)
        : diagnostic(M.InvalidUtf8, span, { byte: bytes[at]!.toString(16).padStart(2, "0"), offset: at });
    return { ok: false, diagnostic: d, file };
  }
  let text = bytes.toString("utf8");
  if (text.charCodeAt(0) === 0xfeff) text = " " + text.slice(1); // keep offsets: BOM becomes a blank
  const file = new SourceFile(path, text);
  if (text.trim() === "") {
    return { ok: false, file, diagnostic: diagnostic(M.EmptyFile, undefined) };
  }
  return { ok: true, file };
}

/** Offset of the first byte that is not part of valid UTF-8, or -1. */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    let n: number;
    let min: number;
    if (c >= 0xc2 && c <= 0xdf) {
      n = 1;
      min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      min = 0x10000;
    } else return i;
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
