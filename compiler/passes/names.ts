// Resolves names: the classes that tools, intents and pressure rules refer to,
// and the tenants that pressure rules watch. Warns about classes nothing uses.

import type * as A from "../ast.js";
import type { Pass } from "../check.js";
import { M } from "../diagnostic-messages.js";
import { closest } from "../suggest.js";
import { agentBlocksOf } from "./values.js";

export const namesPass: Pass = {
  name: "names",
  run(ctx) {
    const { model, diags } = ctx;
    const classNames = model.classes.map((c) => c.name.name);
    const used = new Set<string>();
    const resolveClass = (id: A.Ident) => {
      used.add(id.name);
      if (classNames.includes(id.name)) return;
      const hint = closest(id.name, classNames);
      const name = id.name;
      diags.report(
        M.UnknownClass,
        id.span,
        hint
          ? { name, help: "didYouMean", hint }
          : classNames.length
            ? { name, help: "defined", classes: classNames.join(", ") }
            : { name, help: "define" },
      );
    };

    for (const tool of [...model.tools, ...(model.defaultTool ? [model.defaultTool] : [])]) {
      for (const s of tool.body) if (s.kind === "classref") resolveClass(s.name);
    }
    for (const { agent } of agentBlocksOf(model)) {
      for (const s of agent.body) {
        if (s.kind === "classref") resolveClass(s.name);
        if (s.kind !== "intent" || s.subject.name !== "class" || s.value.kind !== "list") continue;
        for (const item of s.value.items) if (item.kind === "word") resolveClass({ name: item.name, span: item.span });
      }
    }
    const tenantNames = model.tenants.map((t) => t.name.name);
    for (const w of model.whens) for (const a of w.actions) for (const c of a.classes) resolveClass(c);
    for (const { scope } of [...model.whens, ...model.ladders]) {
      const tn = scope.name;
      if (tn && !tenantNames.includes(tn.name)) {
        const hint = closest(tn.name, tenantNames);
        diags.report(M.UnknownTenant, tn.span, hint ? { name: tn.name, help: "didYouMean", hint } : { name: tn.name, help: "define" });
      }
    }
    for (const c of model.classes) {
      if (!used.has(c.name.name)) diags.report(M.UnusedClass, c.name.span, { name: c.name.name });
    }
  },
};
