// Overview: requests, errors, spend and tokens over time; the top developers and models;
// what is running now.

import * as api from "../api.js";
import { h, fmt, replace, keyLabel, developerHref } from "../dom.js";
import { timeChart, hbar } from "../charts.js";
import { pageHead, panel, stat, table, emptyState, errorBox, segmented, every } from "../ui.js";

export const RANGES = [
  ["24h", "24 hours"],
  ["7d", "7 days"],
  ["30d", "30 days"],
];

function noTraffic() {
  return emptyState("No requests in this period", "Requests appear here as soon as a client calls the gateway, e.g. Cursor with the base URL ", h("code", {}, `${location.origin}/cursor`), ".");
}

export async function render(main, ctx) {
  ctx.setTitle("Overview");
  let range = ctx.query.get("range") || "24h";
  if (!RANGES.some(([r]) => r === range)) range = "24h";
  const status = h("div", {});
  const body = h("div", {});
  const picker = segmented(RANGES, range, (r) => {
    range = r;
    ctx.setQuery({ range: r });
    load();
  }, "Period");
  replace(main, pageHead("Overview", "All traffic through the gateway.", picker), status, body);

  async function load() {
    try {
      const d = await api.get("/ui/api/overview", { range, tz: -new Date().getTimezoneOffset() });
      replace(status);
      draw(d);
    } catch (e) {
      if (e.status !== 401) replace(status, errorBox(e));
    }
  }

  function draw(d) {
    const t = d.totals;
    const tokens = t.prompt_tokens + t.completion_tokens;
    const stats = h(
      "div",
      { class: "stats" },
      stat("Requests", fmt.int(t.requests), `${fmt.int(t.streamed)} streamed`),
      stat("Errors", fmt.int(t.errors), `${fmt.pct(t.errors, t.requests)} of requests`, t.errors ? "bad" : null),
      stat("Spend", fmt.money(t.spend)),
      stat("Tokens", fmt.compact(tokens), `${fmt.compact(t.prompt_tokens)} in · ${fmt.compact(t.completion_tokens)} out · ${fmt.pct(t.cached_tokens, t.prompt_tokens)} cached`),
      stat("Open streams", fmt.int(d.open_streams), "answers streaming now"),
      stat("Deployments", `${fmt.int(d.deployments.healthy)}/${fmt.int(d.deployments.healthy + d.deployments.cooling_down)}`, d.deployments.cooling_down ? `${d.deployments.cooling_down} cooling down` : "all healthy", d.deployments.cooling_down ? "bad" : null),
    );
    const per = d.bucket === "day" ? "per day" : "per hour";
    const charts = t.requests
      ? [
          h(
            "div",
            { class: "grid cols-2" },
            panel("Requests and errors", h("div", { class: "panel-body" }, timeChart({ points: d.series, bucket: d.bucket, series: [{ key: "ok", label: "answered", cls: "s1" }, { key: "errors", label: "errors", cls: "bad" }] })), { hint: per }),
            panel("Spend", h("div", { class: "panel-body" }, timeChart({ points: d.series, bucket: d.bucket, format: fmt.money, series: [{ key: "spend", label: "spend (USD)", cls: "s4", kind: "line" }] })), { hint: per }),
          ),
          panel("Tokens", h("div", { class: "panel-body" }, timeChart({ points: d.series, bucket: d.bucket, height: 170, series: [{ key: "uncached_tokens", label: "input", cls: "s1" }, { key: "cached_tokens", label: "cached input", cls: "s2" }, { key: "completion_tokens", label: "output", cls: "s3" }] })), { hint: per }),
        ]
      : [panel("Traffic", noTraffic())];
    const maxKey = Math.max(0, ...d.top_keys.map((k) => k.spend));
    const models = [...d.top_models].sort((a, b) => b.requests - a.requests);
    const maxModel = Math.max(0, ...models.map((m) => m.requests));
    const tops = h(
      "div",
      { class: "grid cols-2" },
      panel(
        "Top developers",
        table(
          [
            { title: "Key", cell: (k) => h("a", { href: developerHref(k) }, keyLabel(k)) },
            { title: "Requests", num: true, cell: (k) => fmt.int(k.requests) },
            { title: "Tokens", num: true, cell: (k) => fmt.compact(k.tokens) },
            { title: "Spend", num: true, cell: (k) => fmt.money(k.spend) },
            { title: "", cell: (k) => hbar(k.spend, maxKey) },
          ],
          d.top_keys,
          { onRow: (k) => ctx.navigate(developerHref(k)), empty: emptyState("No developer made a request in this period") },
        ),
        { hint: "by spend", tools: h("a", { href: "/ui/developers" }, "All developers →") },
      ),
      panel(
        "Top models",
        table(
          [
            { title: "Model", cell: (m) => h("a", { href: `/ui/logs?model=${encodeURIComponent(m.model)}` }, m.model) },
            { title: "Requests", num: true, cell: (m) => fmt.int(m.requests) },
            { title: "Errors", num: true, cell: (m) => (m.errors ? h("span", { class: "pill bad" }, fmt.int(m.errors)) : "0") },
            { title: "Spend", num: true, cell: (m) => fmt.money(m.spend) },
            { title: "", cell: (m) => hbar(m.requests, maxModel) },
          ],
          models,
          { empty: emptyState("No model was called in this period") },
        ),
        { hint: "by requests" },
      ),
    );
    replace(body, stats, charts, tops);
  }

  await load();
  return every(15, load);
}
