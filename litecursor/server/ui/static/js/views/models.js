// Models: every deployment of every model name, with its health as the router sees it now
// (cooling down until when, in flight, latency, use this minute, recent errors).

import * as api from "../api.js";
import { h, fmt, replace } from "../dom.js";
import { pageHead, panel, stat, table, emptyState, errorBox, every } from "../ui.js";

function statusCell(d) {
  if (d.status === "cooling_down") {
    return h("span", {}, h("span", { class: "pill bad" }, "cooling down"), h("div", { class: "sub" }, `back ${fmt.ago(d.cooling_down_until)}`));
  }
  if (d.at_limit) return h("span", { class: "pill warn", title: "at its rpm, tpm or parallel limit" }, "at limit");
  return h("span", { class: "pill ok" }, "healthy");
}

function limits(d) {
  const parts = [];
  if (d.limits.rpm) parts.push(`${fmt.int(d.limits.rpm)} rpm`);
  if (d.limits.tpm) parts.push(`${fmt.compact(d.limits.tpm)} tpm`);
  if (d.limits.max_parallel_requests) parts.push(`${d.limits.max_parallel_requests} parallel`);
  return parts.length ? parts.join(" · ") : h("span", { class: "faint" }, "none");
}

function errorsCell(d) {
  if (!d.recent_errors.length) return h("span", { class: "faint" }, "none");
  const last = d.recent_errors[d.recent_errors.length - 1];
  return h("span", { title: d.recent_errors.map((e) => `${fmt.time(e.at)}  ${e.status ?? ""} ${e.message}`).join("\n") }, h("span", { class: "pill bad" }, `${d.recent_errors.length}`), " ", h("span", { class: "sub" }, `${last.status ?? ""} ${last.message}`.slice(0, 80)));
}

const COLUMNS = [
  { title: "Model", cell: (d) => h("div", {}, h("b", {}, d.model_name), h("div", { class: "sub mono" }, d.id)) },
  { title: "Upstream", cell: (d) => h("div", {}, h("span", { class: "mono" }, d.model), h("div", { class: "sub" }, d.api_base || "")) },
  { title: "Status", cell: statusCell },
  { title: "In flight", num: true, cell: (d) => fmt.int(d.in_flight) },
  { title: "Latency", num: true, help: "recent average time to answer", cell: (d) => fmt.ms(d.latency_ms) },
  { title: "Requests/min", num: true, cell: (d) => fmt.int(d.requests_last_minute) },
  { title: "Tokens/min", num: true, cell: (d) => fmt.compact(d.tokens_last_minute) },
  { title: "Fails/min", num: true, cell: (d) => fmt.int(d.fails_last_minute) },
  { title: "Limits", cell: limits },
  { title: "Recent errors", cell: errorsCell },
];

export async function render(main, ctx) {
  ctx.setTitle("Models");
  const stats = h("div", { class: "stats" });
  const body = h("div", {});
  const status = h("div", {});
  const updated = h("span", { class: "hint" });
  replace(main, pageHead("Models", "Each deployment as the router sees it now. Refreshes every 5 seconds."), status, stats, panel("Deployments", body, { tools: updated }));

  async function load() {
    try {
      const data = await api.get("/health/deployments");
      const list = data.deployments;
      const groups = new Set(list.map((d) => d.model_name));
      replace(status);
      replace(
        stats,
        stat("Model names", fmt.int(groups.size)),
        stat("Deployments", fmt.int(list.length)),
        stat("Healthy", fmt.int(data.healthy)),
        stat("Cooling down", fmt.int(data.cooling_down), null, data.cooling_down ? "bad" : null),
        stat("In flight", fmt.int(list.reduce((a, d) => a + d.in_flight, 0))),
      );
      replace(body, table(COLUMNS, list, { empty: emptyState("No deployments", "Add models to model_list in the config.") }));
      updated.textContent = `updated ${new Date().toLocaleTimeString()}`;
    } catch (e) {
      if (e.status !== 401) replace(status, errorBox(e));
    }
  }
  await load();
  return every(5, load);
}
