// One developer (one key): its budget and limits, its use over time, its models, and its
// latest requests.

import * as api from "../api.js";
import { h, fmt, replace, keyLabel } from "../dom.js";
import { meter, timeChart, hbar } from "../charts.js";
import { pageHead, panel, stat, table, emptyState, errorBox, segmented } from "../ui.js";
import { RANGES } from "./overview.js";
import { keyState, plural } from "./developers.js";
import { logTable } from "./logs.js";

function limitsText(d) {
  const l = d.limits || {};
  const parts = [];
  if (l.rpm_limit) parts.push(`${fmt.int(l.rpm_limit)} requests/min`);
  if (l.tpm_limit) parts.push(`${fmt.compact(l.tpm_limit)} tokens/min`);
  if (l.max_parallel_requests) parts.push(`${l.max_parallel_requests} at once`);
  return parts.length ? parts.join(" · ") : "none";
}

export async function render(main, ctx) {
  const id = ctx.params[0];
  let range = ctx.query.get("range") || "30d";
  const status = h("div", {});
  const body = h("div", {});
  const picker = segmented(RANGES, range, (r) => { range = r; ctx.setQuery({ range: r }); load(); }, "Period");
  const head = h("div", {});
  replace(main, h("div", { class: "crumbs" }, h("a", { href: "/ui/developers" }, "Developers"), " / "), head, status, body);

  async function load() {
    try {
      const [d, recent] = await Promise.all([
        api.get(`/ui/api/developers/${encodeURIComponent(id)}`, { range, tz: -new Date().getTimezoneOffset() }),
        api.get("/logs", { key: id, limit: 25 }),
      ]);
      replace(status);
      draw(d, recent.data);
    } catch (e) {
      if (e.status !== 401) replace(status, errorBox(e));
    }
  }

  function draw(data, recent) {
    const d = data.developer;
    const label = keyLabel(d);
    ctx.setTitle(label);
    const sub = d.key_name ? h("span", { class: "mono" }, d.key_name) : d.kind === "master" ? "The master key: requests made with it, by the admin or a tool." : d.kind === "none" ? "Requests made with no valid key (a wrong, blocked, expired or deleted key, or none): all refused." : null;
    replace(head, pageHead(h("span", {}, label, " ", keyState(d)), sub, picker));
    const budget = d.budget;
    const stats = h(
      "div",
      { class: "stats" },
      stat("Requests", fmt.int(d.requests), d.errors ? `${plural(d.errors, "error", "errors")} (${fmt.pct(d.errors, d.requests)})` : "no errors"),
      stat("Spend", fmt.money(d.spend), "in this period"),
      stat("Tokens", fmt.compact(d.prompt_tokens + d.completion_tokens), `${fmt.compact(d.prompt_tokens)} in · ${fmt.compact(d.completion_tokens)} out`),
      stat("Cached input", fmt.pct(d.cached_tokens, d.prompt_tokens), `${fmt.compact(d.cached_tokens)} tokens from the prompt cache`),
      stat("Last seen", fmt.ago(d.last_seen), d.last_seen ? fmt.time(d.last_seen) : null),
    );
    const about = h(
      "dl",
      { class: "kv" },
      h("dt", {}, "Budget"),
      h("dd", {}, budget && budget.max_budget !== null ? meter(budget.spend, budget.max_budget) : "no budget"),
      budget && budget.budget_duration ? [h("dt", {}, "Resets"), h("dd", {}, `every ${budget.budget_duration}`, budget.budget_reset_at ? `, next ${fmt.time(budget.budget_reset_at)}` : "")] : null,
      h("dt", {}, "Limits"),
      h("dd", {}, limitsText(d)),
      h("dt", {}, "Models"),
      h("dd", {}, d.models && d.models.length ? h("div", { class: "chips" }, d.models.map((m) => h("span", { class: "chip" }, m))) : "all models"),
      h("dt", {}, "User"),
      h("dd", {}, d.user_id || "–"),
      h("dt", {}, "Team"),
      h("dd", {}, d.team_id || "–"),
      h("dt", {}, "Expires"),
      h("dd", {}, d.expires_at ? fmt.time(d.expires_at) : "never"),
      d.created_at ? [h("dt", {}, "Created"), h("dd", {}, fmt.time(d.created_at))] : null,
    );
    const maxModel = Math.max(0, ...d.top_models.map((m) => m.requests));
    const models = table(
      [
        { title: "Model", cell: (m) => m.model },
        { title: "Requests", num: true, cell: (m) => fmt.int(m.requests) },
        { title: "Spend", num: true, cell: (m) => fmt.money(m.spend) },
        { title: "", cell: (m) => hbar(m.requests, maxModel) },
      ],
      d.top_models,
      { empty: emptyState("No requests in this period") },
    );
    const per = data.bucket === "day" ? "per day" : "per hour";
    const charts = d.requests
      ? h(
          "div",
          { class: "grid cols-2" },
          panel("Requests", h("div", { class: "panel-body" }, timeChart({ points: data.series, bucket: data.bucket, series: [{ key: "ok", label: "answered", cls: "s1" }, { key: "errors", label: "errors", cls: "bad" }] })), { hint: per }),
          panel("Spend", h("div", { class: "panel-body" }, timeChart({ points: data.series, bucket: data.bucket, format: fmt.money, series: [{ key: "spend", label: "spend (USD)", cls: "s4", kind: "line" }] })), { hint: per }),
        )
      : panel("Use over time", emptyState("No requests in this period"));
    const logsHref = `/ui/logs?key=${encodeURIComponent(id)}`;
    replace(
      body,
      stats,
      // the master key and "no key" have no record: their models alone
      d.kind === "key" ? h("div", { class: "grid cols-2" }, panel("Key", h("div", { class: "panel-body" }, about)), panel("Models used", models)) : panel("Models used", models),
      charts,
      panel("Recent requests", logTable(recent, ctx, { hideKey: true, empty: emptyState("No requests yet", "This developer has not sent a request.") }), { tools: h("a", { href: logsHref }, "All in Logs →") }),
    );
  }

  await load();
}
