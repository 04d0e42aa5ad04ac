// The lexer and parser that acgc uses skip chevrotain's validations of the
// token table and the grammar (they cost ~55 ms at every start): they run here.

import { expect, it } from "vitest";
import { validateGrammar } from "../../compiler/parser.js";

it("the token table and the grammar pass chevrotain's validations", () => {
  expect(() => validateGrammar()).not.toThrow();
});
