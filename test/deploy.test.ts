// The deployment files, validated offline: the systemd unit with
// systemd-analyze verify (Debian's systemd), the Kubernetes manifests against
// the Kubernetes OpenAPI schema (kubernetes-models' validators), the container
// image definition parsed with dockerfile-ast and checked against this tree.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DockerfileParser } from "dockerfile-ast";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { DaemonSet } from "kubernetes-models/apps/v1/DaemonSet";
import { afterAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { loadPolicyText } from "../compiler/frontend.js";
import { REPO } from "./runtime/helpers.js";

const tmp = mkdtempSync(join(tmpdir(), "acg-deploy-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("systemd unit", () => {
  const unit = readFileSync(join(REPO, "deploy/systemd/acgd.service"), "utf8");
  /** systemd-analyze verify of a unit text, with ExecStart pointed at this checkout (verify wants the binary to exist). */
  const verify = (text: string) => {
    const file = join(tmp, "acgd.service");
    writeFileSync(file, text.replace(/\/usr\/local\/bin\/acgd\b/g, join(REPO, "bin/acgd.js")));
    const r = spawnSync("systemd-analyze", ["verify", file], { encoding: "utf8" });
    // Only what concerns this unit (verify also reports on the host's own units).
    return { code: r.status, problems: (r.stderr + r.stdout).split("\n").filter((l) => l.includes("acgd.service")) };
  };

  it("passes systemd-analyze verify without a warning", () => {
    expect(verify(unit)).toEqual({ code: 0, problems: [] });
  });

  it("is a Type=notify service with delegation and its capabilities bounded", () => {
    for (const line of ["Type=notify", "NotifyAccess=main", "Delegate=yes", "RuntimeDirectoryPreserve=yes", "LimitMEMLOCK=infinity"])
      expect(unit).toContain(`\n${line}\n`);
    expect(unit).toMatch(/\nCapabilityBoundingSet=.*\bCAP_BPF\b.*\bCAP_SYS_ADMIN\b/);
  });

  it("would catch a broken unit (the check can fail)", () => {
    expect(verify(unit.replace("Type=notify", "Type=notfy").replace("Delegate=yes", "Delegat=yes")).problems.join("\n")).toMatch(
      /Failed to parse service type[\s\S]*Unknown key 'Delegat'/,
    );
  });
});

describe("Kubernetes manifests", () => {
  const docs = parseAllDocuments(readFileSync(join(REPO, "deploy/kubernetes/daemonset.yaml"), "utf8")).map((d) => {
    expect(d.errors).toEqual([]);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- walked as the YAML has it; the schema check below types it
    return d.toJS() as Record<string, any>;
  });
  const ds = docs.find((d) => d["kind"] === "DaemonSet")!;
  const cm = docs.find((d) => d["kind"] === "ConfigMap")!;

  it("validate against the Kubernetes OpenAPI schema", () => {
    expect(docs.map((d) => d["kind"])).toEqual(["ConfigMap", "DaemonSet"]);
    expect(() => new ConfigMap(cm as ConstructorParameters<typeof ConfigMap>[0]).validate()).not.toThrow();
    expect(() => new DaemonSet(ds as ConstructorParameters<typeof DaemonSet>[0]).validate()).not.toThrow();
  });

  it("would catch a schema violation (the check can fail)", () => {
    const bad = structuredClone(ds);
    bad.spec.template.spec.containers[0].securityContext.privileged = "yes";
    expect(() => new DaemonSet(bad).validate()).toThrow(/privileged must be boolean/);
  });

  it("ship a policy that checks, and give acgd what a node must: host PIDs, privileges, cgroup2, bpffs with propagation, BTF, the socket dir", () => {
    const policy = loadPolicyText("policy.acg", cm["data"]["policy.acg"]);
    // Notes (N0401: a test decided in user space) say how, not what is wrong.
    expect(policy.diagnostics.filter((d) => d.severity !== "note")).toEqual([]);
    const pod = ds.spec.template.spec;
    expect(pod.hostPID).toBe(true);
    const acgd = pod.containers.find((c: { name: string }) => c.name === "acgd");
    expect(acgd.securityContext.privileged).toBe(true);
    const mounts = Object.fromEntries(
      acgd.volumeMounts.map((m: { mountPath: string; mountPropagation?: string }) => [m.mountPath, m.mountPropagation ?? ""]),
    );
    expect(mounts).toMatchObject({ "/sys/fs/cgroup": "", "/sys/fs/bpf": "Bidirectional", "/sys/kernel/btf": "", "/run/agentcgroup": "" });
    const hostPaths = pod.volumes
      .filter((v: { hostPath?: { path: string } }) => v.hostPath)
      .map((v: { hostPath: { path: string } }) => v.hostPath.path);
    expect(hostPaths).toEqual(expect.arrayContaining(["/sys/fs/cgroup", "/sys/fs/bpf", "/sys/kernel/btf", "/run/agentcgroup"]));
    // The compiled policy the init container writes is the one acgd loads.
    const init = pod.initContainers[0].command as string[];
    expect(acgd.args[acgd.args.indexOf("--policy") + 1]).toBe(init[init.indexOf("-o") + 1]);
  });
});

describe("container image definition", () => {
  const text = readFileSync(join(REPO, "deploy/container/Containerfile"), "utf8");
  const instructions = DockerfileParser.parse(text).getInstructions();
  const args = (kw: string) => instructions.filter((i) => i.getKeyword() === kw).map((i) => i.getArgumentsContent() ?? "");

  it("parses, on a Node 20 base, with instructions the builders know", () => {
    const known = new Set([
      "FROM",
      "WORKDIR",
      "COPY",
      "ADD",
      "RUN",
      "ENV",
      "ARG",
      "LABEL",
      "USER",
      "VOLUME",
      "EXPOSE",
      "ENTRYPOINT",
      "CMD",
      "STOPSIGNAL",
      "HEALTHCHECK",
      "SHELL",
      "ONBUILD",
    ]);
    expect(instructions.map((i) => i.getKeyword()).filter((k) => !known.has(k))).toEqual([]);
    expect(args("FROM")).toEqual([expect.stringMatching(/^node:20-bookworm/)]);
  });

  it("builds with the project's own scripts from files that exist, and starts acgd where set-up links it", () => {
    for (const copy of args("COPY")) for (const src of copy.split(/\s+/).slice(0, -1)) expect(existsSync(join(REPO, src)), src).toBe(true);
    const run = args("RUN").join("\n");
    expect(run).toMatch(/ACG_SETUP_TESTBED=0 bash scripts\/setup\.sh/);
    expect(readFileSync(join(REPO, "scripts/setup-system.sh"), "utf8")).toContain("ACG_SETUP_TESTBED");
    expect(JSON.parse(args("ENTRYPOINT")[0]!)).toEqual(["/usr/local/bin/acgd"]);
    expect(readFileSync(join(REPO, "scripts/link-commands.sh"), "utf8")).toMatch(/bindir=\$\{1:-\$\{ACG_BIN_DIR:-\/usr\/local\/bin\}\}/);
    expect(JSON.parse(args("CMD")[0]!)).toEqual(["--policy", "/etc/agentcgroup/policy"]);
    expect(readFileSync(join(REPO, ".dockerignore"), "utf8").split("\n")).toEqual(
      expect.arrayContaining(["node_modules", "dist", "native/build", ".cache"]),
    );
  });
});
