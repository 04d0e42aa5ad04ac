// Checks pressure rules: the metric, the threshold and the window (PSI triggers
// accept windows of 500ms to 10s), and the actions' delays.

import type { Pass } from "../check.js";
import { M } from "../diagnostic-messages.js";
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
        const metric = w.metric.name;
        ctx.diags.report(
          M.UnknownMetric,
          w.metric.span,
          hint ? { metric, help: "didYouMean", hint } : { metric, help: "known", metrics: PRESSURE_METRICS.join(" or ") },
        );
      }
      numeric(ctx, w.threshold, { kind: "percent", min: 1, max: 100 }, "pressure threshold");
      numeric(ctx, w.window, { kind: "duration", min: PSI_WINDOW_MIN_NS, max: PSI_WINDOW_MAX_NS }, "pressure window");
      if (w.actions.length === 0) ctx.diags.report(M.PressureRuleEmpty, w.span);
      for (const a of w.actions) {
        if (a.kind === "throttle") numeric(ctx, a.delay, { kind: "duration", min: 1e6, max: MAX_HIGH_DELAY_MS * 1e6 }, "throttle delay");
      }
    }
  },
};
