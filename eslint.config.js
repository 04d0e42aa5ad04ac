// ESLint (flat config) for the TypeScript and the few JavaScript files.
// Formatting is Prettier's (.prettierrc.json): no rule here is about layout.
// docs/architecture.md, "Lint and format", says what each rule is for.
import js from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

// The TypeScript that tsconfig.json compiles: the type-aware rules read its
// program. Files outside it (vitest.config.ts) get the syntactic rules only.
const TYPED = [
  "cli/**/*.ts",
  "clients/**/*.ts",
  "compiler/**/*.ts",
  "runtime/**/*.ts",
  "traces/**/*.ts",
  "test/**/*.ts",
  "scripts/**/*.ts",
  "bench/**/*.ts",
];

// `new Promise((r) => setTimeout(r, ms))`: Node has it as setTimeout in node:timers/promises.
const SLEEP = {
  selector: "NewExpression[callee.name='Promise'] > ArrowFunctionExpression > CallExpression.body[callee.name='setTimeout']",
  message: 'sleep with `import { setTimeout as sleep } from "node:timers/promises"`',
};

// The layering of docs/architecture.md, as test/architecture.test.ts checks it
// on the import graph; here it shows in the editor as the import is written.
// The command lines (cli/) are the top layer: they may import anything but
// bench/ and test/, and no library folder imports them.
const intoFolder = (folders) => `^(\\.\\./)+(${folders.join("|")})/`;
const intoCli = {
  regex: intoFolder(["cli"]),
  message: "a library never imports a command line (cli/): move what both need into a library module",
};

/** The rules of one library folder: what it must not import, statically or with import(). */
function layer(folder, forbidden = [], why = "") {
  const banned = [...(forbidden.length ? [{ regex: intoFolder(forbidden), message: why }] : []), intoCli];
  return {
    files: [`${folder}/**/*.ts`],
    rules: {
      "no-restricted-imports": ["error", { patterns: banned }],
      "no-restricted-syntax": [
        "error",
        SLEEP,
        // esquery's /regex/ cannot hold a slash: \x2F is one.
        ...banned.map(({ regex, message }) => ({
          selector: `ImportExpression[source.value=/${regex.replaceAll("/", "\\x2F")}/]`,
          message,
        })),
      ],
    },
  };
}

export default tseslint.config(
  {
    // Build output (out/: the README's `acgc compile -o out/swe`), dependencies, and the caches of the native build and the test bed.
    ignores: ["dist/", "out/", "node_modules/", ".cache/", "native/build/", "bench/results/", "test/kernel/results/"],
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    // A disable comment that no longer disables anything goes.
    linterOptions: { reportUnusedDisableDirectives: "error" },
    rules: {
      // `_name` marks what is there for its position (a callback's argument, a
      // tuple slot); a rest sibling leaves fields out of a copy.
      "@typescript-eslint/no-unused-vars": [
        "error",
        {
          argsIgnorePattern: "^_",
          varsIgnorePattern: "^_",
          destructuredArrayIgnorePattern: "^_",
          caughtErrors: "none",
          ignoreRestSiblings: true,
        },
      ],
      eqeqeq: "error",
      // Prettier wraps code at 140 columns but leaves long strings, template
      // literals and comments alone: split those, or name their parts. Left
      // whole: a regex that matches a message, a URL, and a test's title
      // (splitting it would re-indent the whole test).
      "max-len": [
        "error",
        { code: 140, ignoreRegExpLiterals: true, ignoreUrls: true, ignorePattern: "^\\s*(await )?(it|test|describe)\\(" },
      ],
      // Tests match command output, where "a   b" reads better than "a {3}b".
      "no-regex-spaces": "off",
      "no-restricted-syntax": ["error", SLEEP],
    },
  },
  {
    files: TYPED,
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // acgd is one event loop: a promise nobody awaits or catches loses its
      // error (an unhandled rejection ends the process).
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/await-thenable": "error",
      "@typescript-eslint/return-await": ["error", "error-handling-correctness-only"],
      "@typescript-eslint/only-throw-error": "error",
      "@typescript-eslint/no-unnecessary-type-assertion": "error",
      // A name used only as a type is imported as one, so an import shows
      // whether it loads the module at run time (acgd must not load the
      // compiler's front end). `import("…")` types stay allowed: they name
      // modules that are loaded lazily on purpose.
      "@typescript-eslint/consistent-type-imports": ["error", { fixStyle: "inline-type-imports", disallowTypeAnnotations: false }],
      // ... and an import of types alone is `import type`, which is erased whole.
      "@typescript-eslint/no-import-type-side-effects": "error",
    },
  },
  layer("compiler", ["runtime", "traces", "bench", "test"], "the compiler imports nothing outside compiler/ (it runs where no agent does)"),
  layer("runtime", ["traces", "bench", "test"], "the runtime imports compiler/ and runtime/ only"),
  layer("traces", ["bench", "test"], "trace tools import compiler/, runtime/ and traces/ only"),
  // Benchmarks may import every library folder, and no command line.
  layer("bench"),
  {
    files: ["cli/**/*.ts", "clients/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        { patterns: [{ regex: intoFolder(["bench", "test"]), message: "nothing outside bench/ and test/ imports them" }] },
      ],
    },
  },
  {
    files: ["**/*.js", "**/*.mjs"],
    languageOptions: { globals: globals.node },
  },
  {
    // A VS Code extension is loaded as CommonJS.
    files: ["editors/vscode/extension.js"],
    languageOptions: { sourceType: "commonjs", globals: globals.commonjs },
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
);
