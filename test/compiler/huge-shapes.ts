// Inputs that stress the front end's complexity, shared by the fuzz test and the bench.

/** Long chains and deep nesting (each under the 1 MiB cap): see also npm run bench:frontend. */
export function hugeShapes(): string[] {
  const wrap = (m: string) =>
    "version 1\npolicy huge {\n  host { memory = 64GiB }\n  class c { priority = high }\n" +
    `  tool t { match ${m}; class c }\n  tool default { class c }\n}\n`;
  const preds = (n: number, op: string) => Array.from({ length: n }, (_, i) => `exe != "x${i}"`).join(` ${op} `);
  return [
    wrap(preds(20_000, "and")),
    wrap(preds(20_000, "or")),
    wrap(`${"(".repeat(100_000)}exe == "a"${")".repeat(100_000)}`),
    wrap(`${"not ".repeat(100_000)}exe == "a"`),
    wrap(`exe in ${"[".repeat(100_000)}"a"${"]".repeat(100_000)}`),
  ];
}
