// Checks pressure rules: the metric, the threshold and the window (PSI triggers
// accept windows of 500ms to 10s), and the actions' delays.

import type { Pass } from "../check.js";
import { closest } from "../suggest.js";
import { numeric } from "./settings.js";
import { MAX_HIGH_DELAY_MS } from "./memory.js";

export const PRESSURE_METRICS = ["memory.pressure", "memory.pressure.full"];
/** The kernel's PSI trigger window bounds (Documentation/accounting/psi.rst). */
export const PSI_WINDOW_MIN_NS = 500e6;
export const PSI_WINDOW_MAX_NS = 10e9;

export const pressurePass: Pass = {
  name: "pressure",
  run(ctx) {
    for (const w of ctx.model.whens) {
      if (!PRESSURE_METRICS.includes(w.metric.name)) {
        const hint = closest(w.metric.name, PRESSURE_METRICS);
        ctx.diags.error("E0701", `unknown pressure metric '${w.metric.name}'`, w.metric.span, hint ? `did you mean '${hint}'?` : `rules watch ${PRESSURE_METRICS.join(" or ")}`);
      }
      numeric(ctx, w.threshold, { kind: "percent", min: 1, max: 100 }, "pressure threshold");
      numeric(ctx, w.window, { kind: "duration", min: PSI_WINDOW_MIN_NS, max: PSI_WINDOW_MAX_NS }, "pressure window");
      if (w.actions.length === 0) ctx.diags.error("E0702", "this pressure rule does nothing", w.span, "add `protect CLASS` or `throttle CLASS 200ms` inside the braces");
      for (const a of w.actions) {
        if (a.kind === "throttle") numeric(ctx, a.delay, { kind: "duration", min: 1e6, max: MAX_HIGH_DELAY_MS * 1e6 }, "throttle delay");
      }
    }
  },
};
