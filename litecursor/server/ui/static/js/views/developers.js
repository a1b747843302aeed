// Developers: one row per key (or per user), since every request reaches the gateway from
// Cursor's servers with the same user agent and only the key says who sent it.

import * as api from "../api.js";
import { h, fmt, replace, keyLabel } from "../dom.js";
import { meter } from "../charts.js";
import { pageHead, panel, table, emptyState, errorBox, segmented } from "../ui.js";
import { RANGES } from "./overview.js";

export function keyState(d) {
  if (d.kind === "master") return h("span", { class: "pill info" }, "master");
  if (d.kind === "none") return h("span", { class: "pill bad", title: "requests made without a valid key: all refused" }, "refused");
  if (d.deleted) return h("span", { class: "pill plain" }, "deleted");
  if (d.blocked) return h("span", { class: "pill bad" }, "blocked");
  if (d.expires_at && new Date(d.expires_at) <= new Date()) return h("span", { class: "pill warn" }, "expired");
  return h("span", { class: "pill ok" }, "active");
}

export function topModels(list) {
  if (!list || !list.length) return h("span", { class: "faint" }, "–");
  const total = list.reduce((a, m) => a + m.requests, 0);
  return h("div", { class: "chips" }, list.slice(0, 3).map((m) => h("span", { class: "chip", title: `${fmt.int(m.requests)} requests, ${fmt.money(m.spend)}` }, `${m.model} ${fmt.pct(m.requests, total)}`)));
}

export function plural(n, one, many) {
  return `${fmt.int(n)} ${n === 1 ? one : many}`;
}

function hrefOf(d, by) {
  if (by === "user") return d.id === null ? "/ui/logs" : `/ui/logs?user=${encodeURIComponent(d.id)}`;
  return `/ui/developers/${encodeURIComponent(d.id)}`;
}

export async function render(main, ctx) {
  ctx.setTitle("Developers");
  let range = ctx.query.get("range") || "30d";
  let by = ctx.query.get("by") === "user" ? "user" : "key";
  let filter = ctx.query.get("q") || "";
  let data = null;
  const status = h("div", {});
  const body = h("div", {}, h("div", { class: "loading" }, "Loading…"));
  const search = h("input", { type: "search", placeholder: "Filter by name, user, team…", value: filter, "aria-label": "Filter developers" });
  search.addEventListener("input", () => {
    filter = search.value;
    sync();
    draw();
  });
  const sync = () => ctx.setQuery({ range: range === "30d" ? "" : range, by: by === "key" ? "" : by, q: filter });
  const rangePicker = segmented(RANGES, range, (r) => { range = r; sync(); load(); }, "Period");
  const byPicker = segmented([["key", "Per key"], ["user", "Per user"]], by, (b) => { by = b; sync(); load(); }, "Group by");
  replace(main, pageHead("Developers", "Usage per key: each developer's own key is how their requests are told apart.", byPicker, rangePicker), status, panel(null, h("div", {}, h("div", { class: "filters one" }, search), body)));

  async function load() {
    try {
      data = await api.get("/ui/api/developers", { range, by });
      replace(status);
      draw();
    } catch (e) {
      if (e.status !== 401) replace(status, errorBox(e));
    }
  }

  function draw() {
    if (!data) return;
    const needle = filter.trim().toLowerCase();
    const rows = data.developers.filter((d) => !needle || [d.key_alias, d.key_name, d.user_id, d.team_id, d.id].some((v) => v && String(v).toLowerCase().includes(needle)));
    const name = by === "user" ? (d) => h("a", { href: hrefOf(d, by) }, d.id === null ? "no user" : d.user_alias || d.id) : (d) => h("div", {}, h("a", { href: hrefOf(d, by) }, keyLabel(d)), d.key_name && d.key_alias ? h("div", { class: "sub mono" }, d.key_name) : null);
    const columns = [
      { title: by === "user" ? "User" : "Developer (key)", cell: name },
      by === "key" ? { title: "User / team", cell: (d) => h("div", {}, d.user_id || h("span", { class: "faint" }, "–"), d.team_id ? h("div", { class: "sub" }, d.team_id) : null) } : { title: "Keys", num: true, cell: (d) => fmt.int(d.keys) },
      by === "key" ? { title: "State", cell: keyState } : null,
      { title: "Spend vs budget", cell: (d) => meter(d.budget ? d.budget.spend : d.spend, d.budget ? d.budget.max_budget : null), help: "spend in the current budget period against the budget" },
      { title: "Requests", num: true, cell: (d) => h("span", {}, fmt.int(d.requests), d.errors ? h("div", { class: "sub" }, plural(d.errors, "error", "errors")) : null) },
      { title: "Tokens", num: true, cell: (d) => h("span", { title: `${fmt.int(d.prompt_tokens)} in, ${fmt.int(d.completion_tokens)} out` }, fmt.compact(d.prompt_tokens + d.completion_tokens)) },
      { title: "Cached", num: true, help: "share of input tokens read from the provider's prompt cache", cell: (d) => fmt.pct(d.cached_tokens, d.prompt_tokens) },
      { title: "Spend", num: true, cell: (d) => fmt.money(d.spend) },
      { title: "Last seen", cell: (d) => h("span", { class: "nowrap", title: d.last_seen ? fmt.time(d.last_seen) : "" }, fmt.ago(d.last_seen)) },
      { title: "Top models", cell: (d) => topModels(d.top_models) },
    ].filter(Boolean);
    const empty = data.developers.length
      ? emptyState("No developer matches the filter")
      : emptyState("No keys and no traffic yet", "Create a key for each developer on the ", h("a", { href: "/ui/keys" }, "Keys"), " page: their requests then show up here, per developer.");
    replace(body, table(columns, rows, { onRow: (d) => ctx.navigate(hrefOf(d, by)), empty }));
  }

  await load();
}
