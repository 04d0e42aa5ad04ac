// chevrotain, loaded from the single-file build that its package ships
// (lib/chevrotain.mjs, the same release bundled with its @chevrotain/* and
// lodash-es dependencies). The package's entry is ~700 ES modules (lodash-es
// alone is 644), and Node 20 has no compile cache for ES modules: loading it
// took ~0.6 s of CPU, more than half of a cached `acgc compile`; the bundle
// loads in ~40 ms. The package's `exports` map names only its entry, so the
// bundle is found beside it. Every value the front end uses from chevrotain
// comes through here, so that one copy of its classes exists (`instanceof`).

import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";

/** The package entry, lib/src/api.js; the bundle is lib/chevrotain.mjs. */
const entry = createRequire(import.meta.url).resolve("chevrotain");
const chevrotain = (await import(pathToFileURL(join(dirname(entry), "..", "chevrotain.mjs")).href)) as typeof import("chevrotain");

export const { createToken, EmbeddedActionsParser, EOF, Lexer, MismatchedTokenException } = chevrotain;
/** The lexer's instance type, beside its constructor of the same name (as chevrotain declares it). */
export type Lexer = import("chevrotain").Lexer;
export type { IParserErrorMessageProvider, IRecognitionException, IToken, TokenType } from "chevrotain";
