/**
 * Loads a compiled policy directory (`acgc compile FILE -o DIR`) by its
 * manifest.json and drives its BPF objects: the small reusable layer between
 * the loader (runtime/bpf-object.ts and its siblings) and whoever runs a
 * policy (acgd, the kernel test suite).
 *
 * ```ts
 * const po = PolicyObjects.open(dir);          // reads DIR/manifest.json
 * po.load("scheduler");                         // verifier log + stats kept
 * po.writePolicy(ir);                           // inactive generation, then flip
 * po.setCgroup(cgroupIdOf(path), { ruleId: 2, agentId: 0 });
 * po.attachScheduler();                         // sched_ext_ops registered
 * po.classStats();  po.exitInfo();
 * po.detachScheduler(); po.close();
 * ```
 *
 * - Objects load in any order; a map the manifest shares between objects
 *   (acg_policy, acg_gen, acg_cgroups, ...) is created by the first object
 *   loaded and reused by the later ones, so there is one kernel map.
 * - `load("memcg")` probes the kernel first: without `struct memcg_bpf_ops`
 *   it throws a {@link BpfError} with code EOPNOTSUPP, op "probe" and the
 *   message "kernel lacks memcg_bpf_ops", before libbpf is involved.
 * - Load failures are the loader's BpfError (errno, op, verifierLog).
 */
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import {
  CAPACITY,
  classStatsStruct,
  exitRecordStruct,
  holdStateStruct,
  layoutOf,
  PLACEMENT_EPOCH,
  type ObjectName,
} from "../compiler/abi.js";
import {
  encodeActiveGen,
  encodeCgroupKey,
  encodeCgroupValue,
  encodeDaemon,
  encodeHoldDomain,
  encodePolicy,
  encodeU32,
  encodeU64,
  type CgroupEntry,
  type HoldDomain,
} from "../compiler/abi-encode.js";
import type { PolicyIR } from "../compiler/ir.js";
import type { Manifest, MapEntry, ObjectEntry } from "../compiler/manifest.js";
import { BpfLink } from "./bpf-link.js";
import { BpfMap } from "./bpf-map.js";
import { BpfObject } from "./bpf-object.js";
import { btfHasType, btfStructMembers } from "./kernel-probes.js";
import type { BpfError, BtfMember, ProgramStats } from "./native-addon.js";

export interface PolicyObjectsOptions {
  /** Collect the verifier's own statistics (verification time, states); default true. */
  collectStats?: boolean;
}

/** One row of the verifier table: a program of a loaded object. */
export interface VerifierRow {
  object: ObjectName;
  program: string;
  /** Instructions processed by the verifier (bpf_prog_info.verified_insns). */
  verifiedInsns: number;
  /** The verifier's own time for this program (µs), when collected. */
  verificationTimeUs: number | null;
  /** Wall time of the whole object's load (ms, shared by its programs). */
  objectLoadMs: number;
  totalStates: number | null;
  peakStates: number | null;
}

/** Per-class counters of the scheduler, summed over CPUs. */
export interface ClassStats {
  classId: number;
  enqueued: bigint;
  dispatched: bigint;
  runtimeNs: bigint;
  demoted: bigint;
  /** Enqueues onto a memory hold domain's held queue. */
  held: bigint;
  /** Running tasks cut short because their hold domain engaged. */
  holdPreempted: bigint;
}

/** The scheduler's state of one memory hold domain (struct acg_hold_state). */
export interface HoldState {
  domain: number;
  /** CLOCK_MONOTONIC ns since when usage is at or above the watermark; 0n = not holding. */
  holdingSinceNs: bigint;
  usageBytes: bigint;
  sampledNs: bigint;
  engaged: bigint;
  released: bigint;
  turns: bigint;
  /** The longest a held queue waited for a turn or its release. */
  longestWaitNs: bigint;
  lastEngagedNs: bigint;
  lastReleasedNs: bigint;
}

/** Why sched_ext stopped the scheduler (struct acg_exit_record); kind 0 = still running. */
export interface ExitInfo {
  kind: number;
  exitCode: bigint;
  reason: string;
  msg: string;
}

/** The classifier's per-CPU working memory: each program keeps its own (both run while one replaces the other). */
const CLASSIFIER_SCRATCH = "acg_scratch";

/**
 * Why the exec classifier of the `next` manifest cannot share the maps of
 * objects built from `running` (another map ABI, or a map of its defined
 * otherwise), or null when it can.
 */
export function classifierMapsMisfit(running: Manifest, next: Manifest): string | null {
  if (next.abiVersion !== running.abiVersion) return `map ABI ${next.abiVersion}, the running objects' ${running.abiVersion}`;
  const shape = (m: MapEntry) => JSON.stringify([m.type, m.keySize, m.valueSize, m.maxEntries, m.flags]);
  for (const m of next.maps) {
    if (!m.objects.includes("classifier") || m.name === CLASSIFIER_SCRATCH) continue;
    const r = running.maps.find((x) => x.name === m.name);
    if (!r) return `the running objects have no map ${m.name}`;
    if (shape(r) !== shape(m)) return `map ${m.name} is defined otherwise (${shape(m)} vs ${shape(r)})`;
  }
  return null;
}

/** The cgroup id the kernel uses for a cgroup v2 directory (its kernfs inode number). */
export function cgroupIdOf(cgroupDir: string): bigint {
  return statSync(cgroupDir, { bigint: true }).ino;
}

/**
 * Which RFC layout of struct memcg_bpf_ops the kernel has, from its BTF
 * members (null: no such struct): "v7" has memcg_charged/memcg_uncharged and
 * three-argument below_low/below_min; "v6" has get_high_delay_ms and
 * one-argument below_low/below_min. Anything else is refused with the reason.
 */
export function memcgOpsLayout(members: readonly BtfMember[] | null): { layout: "v6" | "v7" } | { layout: null; reason: string } {
  if (members === null) return { layout: null, reason: "kernel lacks memcg_bpf_ops" };
  const params = (name: string) => members.find((m) => m.name === name)?.params;
  if (params("memcg_charged") === 2 && params("memcg_uncharged") === 2 && params("below_low") === 3 && params("below_min") === 3)
    return { layout: "v7" };
  if (params("get_high_delay_ms") === 1 && params("below_low") === 1 && params("below_min") === 1) return { layout: "v6" };
  const seen = members.map((m) => `${m.name}${m.params === null ? "" : `/${m.params}`}`).join(", ");
  return { layout: null, reason: `kernel has a memcg_bpf_ops of neither RFC layout (v6 or v7): members ${seen}` };
}

function lacks(what: string): BpfError {
  const e = new Error(`${what}: the memcg BPF hooks cannot load on this kernel (use the cgroup-file fallback)`) as BpfError;
  e.errno = 95;
  e.code = "EOPNOTSUPP";
  e.op = "probe";
  return e;
}

function cString(b: Buffer): string {
  const end = b.indexOf(0);
  return b.subarray(0, end < 0 ? b.length : end).toString("utf8");
}

export class PolicyObjects {
  readonly dir: string;
  readonly manifest: Manifest;
  readonly #opts: Required<PolicyObjectsOptions>;
  readonly #objects = new Map<ObjectName, BpfObject>();
  /** Maps re-opened from bpffs pins by {@link PolicyObjects.adopt} (no objects loaded then). */
  readonly #pinnedMaps = new Map<string, BpfMap>();
  #rows: VerifierRow[] = [];
  #schedLink: BpfLink | null = null;
  #execLink: BpfLink | null = null;
  /** Objects whose {@link loadAsync} is running: {@link close} closes them too. */
  readonly #loading = new Set<BpfObject>();

  private constructor(dir: string, manifest: Manifest, opts: PolicyObjectsOptions) {
    this.dir = dir;
    this.manifest = manifest;
    this.#opts = { collectStats: opts.collectStats ?? true };
  }

  /** Reads DIR/manifest.json; nothing is loaded yet. */
  static open(dir: string, opts: PolicyObjectsOptions = {}): PolicyObjects {
    const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as Manifest;
    return new PolicyObjects(dir, manifest, opts);
  }

  entry(name: ObjectName): ObjectEntry {
    const e = this.manifest.objects.find((o) => o.name === name);
    if (!e) throw new Error(`manifest of ${this.dir} has no object ${name}`);
    return e;
  }

  /** The loaded object (throws if not loaded). */
  object(name: ObjectName): BpfObject {
    const o = this.#objects.get(name);
    if (!o) throw new Error(`object ${name} is not loaded`);
    return o;
  }

  /**
   * A map by name, from whichever loaded object declares it (shared maps are
   * one kernel map). The manifest says which objects those are: asking the
   * objects themselves lists every map of each (tens of µs, hundreds under
   * emulation), and acgd looks up a map on every call it starts and ends.
   */
  map(name: string): BpfMap {
    const m = this.#findMap(name);
    if (!m) throw new Error(`no loaded object has map ${name}`);
    return m;
  }

  #findMap(name: string): BpfMap | undefined {
    const declared = this.manifest.maps.find((m) => m.name === name)?.objects;
    for (const [objectName, o] of this.#objects) {
      if (declared ? declared.includes(objectName) : o.maps().some((m) => m.name === name)) return o.map(name);
    }
    return this.#pinnedMaps.get(name);
  }

  /**
   * After a write to acg_cgroups or acg_daemon: bumps acgd's placement epoch,
   * so the scheduler places again the tasks whose class it remembered from
   * before (select_cpu(), see docs/bpf.md). acgd is its only writer, and
   * reads it back rather than counting itself: a take-over continues the
   * count of the acgd before it (starting again from 0 could meet a
   * remembered epoch again).
   */
  #placementsChanged(): void {
    const epochs = this.#findMap("acg_placement_epochs");
    if (!epochs) return; // no scheduler or classifier loaded: nothing remembers a placement
    const key = encodeU32(PLACEMENT_EPOCH.runtime);
    const now = epochs.lookup(key)?.readBigUInt64LE(0) ?? 0n;
    epochs.update(key, encodeU64(now + 1n));
  }

  /**
   * Opens and loads one object, reusing maps already created by objects
   * loaded before; returns its verifier rows. Throws the loader's BpfError
   * (with the verifier log) on refusal; "memcg" is probed first.
   */
  load(name: ObjectName): VerifierRow[] {
    const obj = this.#open(name);
    try {
      obj.load();
    } catch (e) {
      if (!obj.closed) obj.close();
      throw e;
    }
    return this.#loaded(name, obj);
  }

  /**
   * {@link load} with the kernel's verifier on a worker thread (acgd serves
   * meanwhile). {@link close}, or `signal` aborting, while it runs closes the
   * object when the load returns, and the promise rejects (ECANCELED).
   */
  async loadAsync(name: ObjectName, signal?: AbortSignal): Promise<VerifierRow[]> {
    signal?.throwIfAborted();
    const obj = this.#open(name);
    const abort = () => obj.close();
    this.#loading.add(obj);
    signal?.addEventListener("abort", abort);
    try {
      await obj.loadAsync();
    } catch (e) {
      if (!obj.closed) obj.close();
      throw e;
    } finally {
      this.#loading.delete(obj);
      signal?.removeEventListener("abort", abort);
    }
    return this.#loaded(name, obj);
  }

  /** Opens `name`, set up to reuse the maps of what is loaded or adopted already. */
  #open(name: ObjectName): BpfObject {
    if (this.#objects.has(name)) throw new Error(`object ${name} is already loaded`);
    const entry = this.entry(name);
    let layout: string | null = null;
    if (entry.requires.includes("btf:struct memcg_bpf_ops")) {
      const probed = memcgOpsLayout(btfHasType("memcg_bpf_ops", "struct") ? btfStructMembers("memcg_bpf_ops") : null);
      if (probed.layout === null) throw lacks(probed.reason);
      layout = probed.layout;
    }
    const obj = BpfObject.open(join(this.dir, entry.file), { collectStats: this.#opts.collectStats });
    try {
      // Only the struct_ops map of the kernel's layout is created (and only its programs load).
      for (const l of entry.structOpsLayouts ?? []) if (l.layout !== layout) obj.setAutocreate(l.map, false);
      for (const m of this.manifest.maps) {
        if (!m.objects.includes(name)) continue;
        // A map of an adopted scheduler (re-opened from its pin) is shared the same way.
        const pinned = this.#pinnedMaps.get(m.name);
        if (pinned) {
          obj.reuseMap(m.name, pinned);
          continue;
        }
        for (const [other, o] of this.#objects) {
          if (other !== name && m.objects.includes(other)) {
            obj.reuseMap(m.name, o.map(m.name));
            break;
          }
        }
      }
    } catch (e) {
      obj.close();
      throw e;
    }
    return obj;
  }

  #loaded(name: ObjectName, obj: BpfObject): VerifierRow[] {
    this.#objects.set(name, obj);
    const rows = obj.programStats().map((p: ProgramStats): VerifierRow => ({
      object: name,
      program: p.name,
      verifiedInsns: p.verifiedInsns,
      verificationTimeUs: p.verificationTimeUs ?? null,
      objectLoadMs: p.loadTimeNs / 1e6,
      totalStates: p.totalStates ?? null,
      peakStates: p.peakStates ?? null,
    }));
    this.#rows.push(...rows);
    return rows;
  }

  /** Verifier rows of every object loaded so far. */
  verifierRows(): VerifierRow[] {
    return [...this.#rows];
  }

  /** The generation of acg_policy the programs read now. */
  activeGeneration(): number {
    const cur = this.map(this.manifest.generations.activeMap).lookup(encodeU32(0));
    return cur ? cur.readUInt32LE(0) : 0;
  }

  /** Writes `ir` into the inactive generation of acg_policy, then makes it active; returns the generation. */
  writePolicy(ir: PolicyIR): number {
    const value = encodePolicy(ir);
    const genMap = this.map(this.manifest.generations.activeMap);
    const next = (this.activeGeneration() + 1) % this.manifest.generations.count;
    this.map(this.manifest.generations.dataMap).update(encodeU32(next), value);
    genMap.update(encodeU32(0), encodeActiveGen(next));
    return next;
  }

  /** Registers the tool-call cgroup `cgroupId` (see {@link cgroupIdOf}) with its rule. */
  setCgroup(cgroupId: bigint | number, entry: CgroupEntry): void {
    this.map("acg_cgroups").update(encodeCgroupKey(cgroupId), encodeCgroupValue(entry));
    this.#placementsChanged();
  }

  /** Names acgd's process to the scheduler (its threads run in the policy's highest-priority class); 0: none. */
  setDaemon(tgid: number): void {
    this.map("acg_daemon").update(encodeU32(0), encodeDaemon(tgid));
    this.#placementsChanged();
  }

  /**
   * Sets memory hold domain `index` (0..CAPACITY.holdDomains-1), or clears it
   * with null: see {@link HoldDomain}. Calls and agents' own leaves are put in
   * a domain by the `holdDomains` of their {@link setCgroup} entry.
   */
  setHoldDomain(index: number, domain: HoldDomain | null): void {
    if (!Number.isInteger(index) || index < 0 || index >= CAPACITY.holdDomains) {
      throw new RangeError(`hold domain index ${index} is out of range (0..${CAPACITY.holdDomains - 1})`);
    }
    this.map("acg_hold_domains").update(encodeU32(index), encodeHoldDomain(domain));
  }

  /** The scheduler's state of every hold domain slot. */
  holdStates(): HoldState[] {
    const l = layoutOf(holdStateStruct);
    const at = (v: Buffer, f: string) => v.readBigUInt64LE(l.fields.find((x) => x.name === f)!.offset);
    const m = this.map("acg_hold");
    const out: HoldState[] = [];
    for (let d = 0; d < CAPACITY.holdDomains; d++) {
      const v = m.lookup(encodeU32(d));
      if (!v) continue;
      out.push({
        domain: d,
        holdingSinceNs: at(v, "holding_since_ns"),
        usageBytes: at(v, "usage_bytes"),
        sampledNs: at(v, "sampled_ns"),
        engaged: at(v, "engaged"),
        released: at(v, "released"),
        turns: at(v, "turns"),
        longestWaitNs: at(v, "longest_wait_ns"),
        lastEngagedNs: at(v, "last_engaged_ns"),
        lastReleasedNs: at(v, "last_released_ns"),
      });
    }
    return out;
  }

  /** Forgets a tool-call cgroup; false if it was not registered. */
  clearCgroup(cgroupId: bigint | number): boolean {
    const had = this.map("acg_cgroups").delete(encodeCgroupKey(cgroupId));
    if (had) this.#placementsChanged();
    return had;
  }

  /** Attaches the scheduler's sched_ext_ops (load("scheduler") and writePolicy first). */
  attachScheduler(): BpfLink {
    if (this.#schedLink) throw new Error("scheduler already attached");
    const so = this.entry("scheduler").structOps;
    if (!so) throw new Error("manifest: scheduler has no struct_ops");
    this.#schedLink = this.object("scheduler").attachStructOps(so.map);
    return this.#schedLink;
  }

  /** Unregisters the scheduler (sched_ext goes back to disabled); no-op when not attached. */
  detachScheduler(): void {
    this.#schedLink?.destroy();
    this.#schedLink = null;
  }

  /** Attaches the exec classifier's tracing program. */
  attachClassifier(): BpfLink {
    if (this.#execLink) throw new Error("classifier already attached");
    const prog = this.entry("classifier").programs[0];
    if (!prog) throw new Error("manifest: classifier has no program");
    this.#execLink = this.object("classifier").attachProgram(prog.name);
    return this.#execLink;
  }

  detachClassifier(): void {
    this.#execLink?.destroy();
    this.#execLink = null;
  }

  /**
   * Replaces the attached exec classifier with the one compiled in `dir`
   * (another policy's directory, same map ABI): the new program shares every
   * map of the running one but its per-CPU scratch (the policy's data, its
   * exec decisions, its ring buffer and drop counter), is attached before the
   * old one is detached (no exec goes unclassified; one seen by both is
   * placed once), and then the old object is freed: `beforeFree` runs just
   * before, with {@link map} already naming the new object's maps (a ring
   * buffer reader moves over there). Throws, the running classifier
   * untouched, when the directory does not fit or its program does not load
   * or attach. Returns the new program's verifier rows.
   */
  replaceClassifier(dir: string, beforeFree?: () => void): VerifierRow[] {
    const running = this.#objects.get("classifier");
    if (!running || !this.#execLink) throw new Error("no exec classifier is attached to replace");
    const other = PolicyObjects.open(dir);
    const misfit = classifierMapsMisfit(this.manifest, other.manifest);
    if (misfit) throw new Error(`${dir}: its exec classifier does not fit the running objects: ${misfit}; replace the objects instead`);
    const entry = other.entry("classifier");
    const prog = entry.programs[0];
    if (!prog) throw new Error(`${dir}: manifest: classifier has no program`);
    const obj = BpfObject.open(join(dir, entry.file), { collectStats: this.#opts.collectStats });
    let link: BpfLink;
    try {
      for (const name of entry.maps) if (name !== CLASSIFIER_SCRATCH) obj.reuseMap(name, this.map(name));
      obj.load();
      link = obj.attachProgram(prog.name);
    } catch (e) {
      if (!obj.closed) obj.close();
      throw e;
    }
    this.#execLink.destroy();
    this.#execLink = link;
    this.#rows = this.#rows.filter((r) => r.object !== "classifier");
    const rows = this.#loaded("classifier", obj);
    try {
      beforeFree?.();
    } finally {
      running.close();
    }
    return rows;
  }

  /** Per-class scheduler counters, summed over CPUs, for classes 0..n-1 (default: the capacity). */
  classStats(n: number = this.manifest.capacities.classes): ClassStats[] {
    const layout = layoutOf(classStatsStruct);
    const stride = Math.ceil(layout.size / 8) * 8;
    const off = (f: string) => layout.fields.find((x) => x.name === f)!.offset;
    const out: ClassStats[] = [];
    const m = this.map("acg_stats");
    for (let c = 0; c < n; c++) {
      const v = m.lookup(encodeU32(c));
      const s: ClassStats = { classId: c, enqueued: 0n, dispatched: 0n, runtimeNs: 0n, demoted: 0n, held: 0n, holdPreempted: 0n };
      for (let base = 0; v && base + layout.size <= v.length; base += stride) {
        s.enqueued += v.readBigUInt64LE(base + off("enqueued"));
        s.dispatched += v.readBigUInt64LE(base + off("dispatched"));
        s.runtimeNs += v.readBigUInt64LE(base + off("runtime_ns"));
        s.demoted += v.readBigUInt64LE(base + off("demoted"));
        s.held += v.readBigUInt64LE(base + off("held"));
        s.holdPreempted += v.readBigUInt64LE(base + off("hold_preempted"));
      }
      out.push(s);
    }
    return out;
  }

  /** Exec events the classifier's ring buffer had no room for (acg_exec_drops, summed over CPUs). */
  execEventDrops(): bigint {
    const v = this.map("acg_exec_drops").lookup(encodeU32(0));
    let n = 0n;
    for (let off = 0; v && off + 8 <= v.length; off += 8) n += v.readBigUInt64LE(off);
    return n;
  }

  /** The scheduler's exit record (what sched_ext passed to ops.exit), or null if unreadable. */
  exitInfo(): ExitInfo | null {
    const v = this.map("acg_exit").lookup(encodeU32(0));
    if (!v) return null;
    const l = layoutOf(exitRecordStruct);
    const f = (n: string) => l.fields.find((x) => x.name === n)!;
    const reason = f("reason");
    const msg = f("msg");
    return {
      kind: v.readUInt32LE(f("kind").offset),
      exitCode: v.readBigInt64LE(f("exit_code").offset),
      reason: cString(v.subarray(reason.offset, reason.offset + reason.size)),
      msg: cString(v.subarray(msg.offset, msg.offset + msg.size)),
    };
  }

  /**
   * Pins the attached scheduler's link and the manifest's scheduler maps in
   * `pinDir` (bpffs): the scheduler then outlives this process, and
   * {@link PolicyObjects.adopt} can take it over.
   */
  pinScheduler(pinDir: string): void {
    if (!this.#schedLink) throw new Error("scheduler not attached");
    this.#schedLink.pin(join(pinDir, "scheduler_link"));
    for (const m of this.manifest.maps) if (m.objects.includes("scheduler")) this.map(m.name).pin(join(pinDir, m.name));
  }

  /** Removes the pins made by {@link pinScheduler} (missing ones are ignored). */
  static unpinScheduler(manifest: Manifest, pinDir: string): void {
    for (const name of ["scheduler_link", ...manifest.maps.filter((m) => m.objects.includes("scheduler")).map((m) => m.name)]) {
      try {
        BpfMap.unpin(join(pinDir, name));
      } catch {
        // not pinned
      }
    }
  }

  /** Takes over a scheduler pinned by {@link pinScheduler}: its link and maps, nothing loaded. */
  static adopt(dir: string, pinDir: string): PolicyObjects {
    const po = PolicyObjects.open(dir);
    try {
      for (const m of po.manifest.maps)
        if (m.objects.includes("scheduler")) po.#pinnedMaps.set(m.name, BpfMap.openPinned(join(pinDir, m.name)));
      po.#schedLink = BpfLink.openPinned(join(pinDir, "scheduler_link"));
    } catch (e) {
      po.close();
      throw e;
    }
    return po;
  }

  /** Detaches everything and frees every object. */
  close(): void {
    this.detachClassifier();
    this.detachScheduler();
    for (const o of this.#objects.values()) if (!o.closed) o.close();
    this.#objects.clear();
    for (const o of this.#loading) o.close();
    for (const m of this.#pinnedMaps.values()) m.close();
    this.#pinnedMaps.clear();
  }

  /** Lets go of the objects without detaching a pinned scheduler (it keeps running). */
  release(): void {
    this.#schedLink?.disconnect();
    this.#schedLink?.destroy();
    this.#schedLink = null;
    this.close();
  }
}
