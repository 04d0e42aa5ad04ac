// acgd's state on disk, written incrementally: a snapshot (one checksummed
// line per record, under a header naming its generation), a journal of the
// changes since that snapshot (one checksummed line each, appended: changes
// cost one short write whatever the number of running calls), and the
// previous snapshot. When the journal has grown past the live records the
// state is compacted: the next generation's snapshot is written to a
// temporary file, the current one becomes the previous one, the new one is
// renamed in, and the journal starts again for the new generation.
//
// Reading never trusts what it cannot check: a snapshot line or header whose
// checksum fails makes the snapshot unusable, and the previous generation is
// used instead (with the problem reported); a journal is applied only to the
// generation it names, and only up to its first bad line (a torn last write).

import { createHash } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

/** A journal entry: a record written (new or changed), or one removed. */
export type JournalEntry<R> = { put: R } | { remove: string };

export interface JournalContents<R> {
  records: Map<string, R>;
  /** What was wrong, each a full sentence naming the file; empty when all was fine or absent. */
  problems: string[];
}

interface Header {
  version: number;
  generation: number;
  /** What the state describes (acgd's cgroup root): a file of another tree is not used. */
  scope: string;
}

const checksum = (text: string) => createHash("sha256").update(text).digest("hex").slice(0, 16);
const line = (value: unknown) => {
  const text = JSON.stringify(value);
  return `${checksum(text)} ${text}\n`;
};

/** The value of a checksummed line, or undefined when the line is damaged. */
function parseLine(text: string): unknown {
  const sp = text.indexOf(" ");
  if (sp !== 16 || checksum(text.slice(17)) !== text.slice(0, 16)) return undefined;
  try {
    return JSON.parse(text.slice(17));
  } catch {
    return undefined;
  }
}

/** The generation a snapshot file's header names (0 when it has none). */
function generationOf(file: string): number {
  try {
    const header = parseLine(readFileSync(file, "utf8").split("\n", 1)[0] ?? "") as Header | undefined;
    return header && Number.isSafeInteger(header.generation) ? header.generation : 0;
  } catch {
    return 0;
  }
}

export class StateJournal<R extends { id: string }> {
  readonly file: string;
  readonly journalFile: string;
  readonly previousFile: string;
  readonly #version: number;
  readonly #scope: string;
  /** Checks one record; returns why it is not one, or null. */
  readonly #problem: (v: unknown) => string | null;
  #generation = 0;
  /** Lines in the current journal; -1 until this process wrote a snapshot (its first change compacts). */
  #journalLines = -1;

  constructor(file: string, opts: { version: number; scope: string; recordProblem: (v: unknown) => string | null }) {
    this.file = file;
    this.journalFile = `${file}.journal`;
    this.previousFile = `${file}.prev`;
    this.#version = opts.version;
    this.#scope = opts.scope;
    this.#problem = opts.recordProblem;
  }

  /** Reads the newest usable generation and its journal. */
  load(): JournalContents<R> {
    const problems: string[] = [];
    let snap = this.#readSnapshot(this.file, problems);
    // A removed state file means no state; only a damaged one falls back to the generation before.
    if (snap === null && existsSync(this.file) && existsSync(this.previousFile)) {
      const prev = this.#readSnapshot(this.previousFile, problems);
      if (prev) {
        problems.push(
          `state file ${this.file} is damaged: the previous generation ${this.previousFile} ` +
            `(generation ${prev.generation}) is used, with the journal of the damaged one; calls ` +
            "recorded only in the damaged file keep the limits their cgroups have",
        );
        // The journal holds whole records: replayed onto the generation before, it loses only calls untouched since the damaged snapshot.
        this.#generation = prev.generation + 1;
        this.#applyJournal(prev.records, problems);
        return { records: prev.records, problems };
      }
    }
    snap ??= { generation: 0, records: new Map() };
    this.#generation = snap.generation;
    this.#applyJournal(snap.records, problems);
    return { records: snap.records, problems };
  }

  #readSnapshot(file: string, problems: string[]): { generation: number; records: Map<string, R> } | null {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== "ENOENT") problems.push(`state file ${file} is not readable (${code ?? (e as Error).message})`);
      return null;
    }
    const lines = text.split("\n");
    if (lines.at(-1) === "") lines.pop();
    const header = parseLine(lines[0] ?? "") as Header | undefined;
    if (!header || header.version !== this.#version || !Number.isSafeInteger(header.generation)) {
      problems.push(
        `state file ${file} has no valid version ${this.#version} header (damaged, truncated or of another version): it is ignored`,
      );
      return null;
    }
    if (header.scope !== this.#scope) {
      problems.push(`state file ${file} describes ${JSON.stringify(header.scope)}, not ${this.#scope}: it is ignored`);
      return null;
    }
    const records = new Map<string, R>();
    for (let i = 1; i < lines.length; i++) {
      const v = parseLine(lines[i]!);
      if (v === undefined) {
        problems.push(`state file ${file}: line ${i + 1} is damaged (checksum or JSON): the file is not used`);
        return null;
      }
      const bad = this.#problem(v);
      if (bad) problems.push(`state file ${file}: record ${i}: ${bad}: that record is ignored`);
      else records.set((v as R).id, v as R);
    }
    return { generation: header.generation, records };
  }

  #applyJournal(records: Map<string, R>, problems: string[]): void {
    let text: string;
    try {
      text = readFileSync(this.journalFile, "utf8");
    } catch {
      return;
    }
    const lines = text.split("\n");
    const header = parseLine(lines[0] ?? "") as Header | undefined;
    // A journal of another generation was left by a compaction cut short: the snapshot already holds it.
    if (!header || header.generation !== this.#generation || header.scope !== this.#scope) return;
    for (let i = 1; i < lines.length; i++) {
      if (lines[i] === "" && i === lines.length - 1) break;
      const v = parseLine(lines[i]!) as JournalEntry<R> | undefined;
      if (v === undefined) {
        problems.push(
          `state journal ${this.journalFile}: line ${i + 1} is damaged (a write cut short): changes from there on are not applied`,
        );
        break;
      }
      if ("remove" in v && typeof v.remove === "string") records.delete(v.remove);
      else if ("put" in v && this.#problem(v.put) === null) records.set(v.put.id, v.put);
      else problems.push(`state journal ${this.journalFile}: line ${i + 1} is not a journal entry: ignored`);
    }
  }

  /**
   * Appends changes, in order, with one write; `live` are all records after
   * them (read only when the state is compacted). Throws on a failed write
   * (the caller logs it).
   */
  append(entries: readonly JournalEntry<R>[], liveCount: number, live: () => Iterable<R>): void {
    if (this.#journalLines < 0 || !existsSync(this.journalFile)) {
      this.compact(live());
      return;
    }
    appendFileSync(this.journalFile, entries.map(line).join(""));
    this.#journalLines += entries.length;
    if (this.#journalLines > Math.max(64, 2 * liveCount)) this.compact(live());
  }

  /** Writes the next generation's snapshot from `records` and starts its journal. */
  compact(records: Iterable<R>): void {
    // Never loaded in this process: continue from the generation on disk.
    if (this.#generation === 0) this.#generation = Math.max(0, ...[this.file, this.previousFile].map(generationOf));
    const next = this.#generation + 1;
    const header: Header = { version: this.#version, generation: next, scope: this.#scope };
    const list = [...records];
    const tmp = `${this.file}.${process.pid}.tmp`;
    mkdirSync(dirname(this.file), { recursive: true });
    try {
      writeFileSync(tmp, line(header) + list.map(line).join(""), { mode: 0o600 });
      if (existsSync(this.file)) renameSync(this.file, this.previousFile);
      renameSync(tmp, this.file);
    } finally {
      // A full disk leaves a short temporary file: never keep it.
      rmSync(tmp, { force: true });
    }
    this.#generation = next;
    writeFileSync(this.journalFile, line(header), { mode: 0o600 });
    this.#journalLines = 0;
  }
}
