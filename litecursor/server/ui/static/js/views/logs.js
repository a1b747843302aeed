// Logs: every request, newest first, with filters (key, user, team, model, status, time,
// text of the error) and keyset paging; a row opens the request.

import * as api from "../api.js";
import { h, fmt, replace, keyLabel, developerHref, statusPill, toDate } from "../dom.js";
import { panel, table, emptyState, errorBox, pageHead } from "../ui.js";

// in the order the filter bar shows them: four a row
const FILTERS = ["key", "model", "status", "q", "user", "team", "start", "end"];
const STATUSES = [
  ["", "Any status"],
  ["error", "Errors (4xx, 5xx)"],
  ["ok", "Successful"],
  ["400", "400 bad request"],
  ["401", "401 unauthorized"],
  ["403", "403 forbidden"],
  ["404", "404 not found"],
  ["429", "429 rate limited"],
  ["499", "499 client gone"],
  ["500", "500 internal"],
  ["502", "502 upstream failed"],
  ["504", "504 upstream timeout"],
];

export function requestHref(r) {
  return `/ui/logs/${encodeURIComponent(r.request_id)}`;
}

function attemptsCell(r) {
  if (!r.attempts || r.attempts.length <= 1) return h("span", { class: "faint" }, r.attempts && r.attempts.length ? "1" : "–");
  const notes = [];
  if (r.retries) notes.push(`${r.retries} retr${r.retries === 1 ? "y" : "ies"}`);
  if (r.fallbacks) notes.push(`${r.fallbacks} fallback${r.fallbacks === 1 ? "" : "s"}`);
  return h("span", { class: "pill warn", title: r.attempts.map((a) => `${a.deployment}: ${a.status ?? "ok"}`).join("\n") }, `${r.attempts.length} · ${notes.join(", ") || "tries"}`);
}

/** What was asked: the model and where it went, or the route of a request that was no chat. */
function requestCell(r) {
  if (!r.model) return h("span", { class: "mono" }, r.route || "–");
  const where = [r.deployment ? `→ ${r.deployment}` : null, r.stream ? "streamed" : "not streamed"].filter(Boolean).join(" · ");
  return h("div", { title: r.route || "" }, r.model, h("div", { class: "sub" }, where));
}

/** The table of requests (also on a developer's page). */
export function logTable(rows, ctx, { hideKey = false, empty } = {}) {
  const columns = [
    { title: "Time", cell: (r) => h("a", { href: requestHref(r), class: "nowrap", title: r.request_id }, fmt.time(r.start_time)) },
    { title: "Status", cell: (r) => statusPill(r.status, r.error_type || undefined) },
    { title: "Request", cell: requestCell },
    hideKey ? null : { title: "Developer", cell: (r) => h("a", { href: developerHref(r) }, keyLabel(r)) },
    { title: "Tokens", num: true, help: "input / output", cell: (r) => (r.total_tokens ? h("span", { title: `${fmt.int(r.cached_tokens)} cached` }, `${fmt.compact(r.prompt_tokens)} / ${fmt.compact(r.completion_tokens)}`) : h("span", { class: "faint" }, "–")) },
    { title: "Cost", num: true, cell: (r) => (r.spend ? h("span", { title: r.estimated ? "estimated from the text: the upstream never said" : "" }, fmt.money(r.spend), r.estimated ? "*" : "") : h("span", { class: "faint" }, "–")) },
    { title: "Latency", num: true, cell: (r) => h("span", {}, fmt.ms(r.latency_ms), r.ttft_ms !== null && r.stream ? h("div", { class: "sub" }, `first ${fmt.ms(r.ttft_ms)}`) : null) },
    { title: "Tries", cell: attemptsCell },
    { title: "Error", cls: () => "err", cell: (r) => (r.error_message ? h("span", { title: r.error_message }, r.error_message) : "") },
  ].filter(Boolean);
  return table(columns, rows, { onRow: (r) => ctx.navigate(requestHref(r)), empty, dense: true });
}

function toLocalInput(value) {
  const d = toDate(value);
  if (!d) return "";
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export async function render(main, ctx) {
  ctx.setTitle("Logs");
  const values = Object.fromEntries(FILTERS.map((f) => [f, ctx.query.get(f) || ""]));
  let cursor = ctx.query.get("cursor") || "";
  const newerPages = [];
  const inputs = {
    key: h("input", { type: "text", name: "key", placeholder: "alias, key, master, none", list: "lc-keys", value: values.key }),
    user: h("input", { type: "text", name: "user", placeholder: "user id", value: values.user }),
    team: h("input", { type: "text", name: "team", placeholder: "team id", value: values.team }),
    model: h("input", { type: "text", name: "model", placeholder: "any model", list: "lc-models", value: values.model }),
    status: h("select", { name: "status" }, STATUSES.map(([v, t]) => h("option", { value: v, selected: v === values.status }, t))),
    start: h("input", { type: "datetime-local", name: "start", value: toLocalInput(values.start) }),
    end: h("input", { type: "datetime-local", name: "end", value: toLocalInput(values.end) }),
    q: h("input", { type: "search", name: "q", placeholder: "text in the error", value: values.q }),
  };
  const labels = { key: "Developer key", user: "User", team: "Team", model: "Model", status: "Status", start: "From", end: "To", q: "Error text" };
  const keysList = h("datalist", { id: "lc-keys" });
  const modelsList = h("datalist", { id: "lc-models" });
  const clear = h("button", { type: "button", on: { click: () => { for (const f of FILTERS) inputs[f].value = ""; submit(); } } }, "Clear");
  const form = h(
    "form",
    { class: "filters", on: { submit: (ev) => { ev.preventDefault(); submit(); } } },
    FILTERS.map((f) => h("label", { class: "field" }, labels[f], inputs[f])),
    h("div", { class: "actions" }, clear, h("button", { type: "submit", class: "primary" }, "Apply filters")),
    keysList,
    modelsList,
  );
  const status = h("div", {});
  const results = h("div", {});
  const pager = h("div", { class: "pager" });
  replace(main, pageHead("Logs", "Every request through the gateway, newest first."), status, panel(null, h("div", {}, form, results, pager)));

  // suggestions for the key and model fields; the page works without them
  api.get("/ui/api/developers", { range: "30d" }).then((d) => replace(keysList, d.developers.filter((x) => x.key_alias).map((x) => h("option", { value: x.key_alias })))).catch(() => {});
  api.get("/v1/models").then((d) => replace(modelsList, d.data.map((m) => h("option", { value: m.id })))).catch(() => {});

  function current() {
    const out = {};
    for (const f of FILTERS) {
      let v = inputs[f].value.trim();
      if ((f === "start" || f === "end") && v) v = new Date(v).toISOString();
      out[f] = v;
    }
    return out;
  }

  function submit() {
    cursor = "";
    newerPages.length = 0;
    load();
  }

  async function load() {
    const filters = current();
    ctx.setQuery({ ...filters, cursor });
    replace(results, h("div", { class: "loading" }, "Loading…"));
    try {
      const page = await api.get("/logs", { ...filters, cursor, limit: 50 });
      replace(status);
      const filtered = FILTERS.some((f) => filters[f]);
      const empty = filtered
        ? emptyState("No request matches these filters", "Widen the time range or clear a filter.")
        : emptyState("No requests yet", "Every request through the gateway is listed here. Try: ", h("code", {}, `curl ${location.origin}/v1/chat/completions …`));
      replace(results, logTable(page.data, ctx, { empty }));
      drawPager(page);
    } catch (e) {
      replace(results);
      if (e.status !== 401) replace(status, errorBox(e));
    }
  }

  function drawPager(page) {
    const newer = h("button", { type: "button", class: "small", disabled: !newerPages.length, on: { click: () => { cursor = newerPages.pop() || ""; load(); } } }, "← Newer");
    const older = h("button", { type: "button", class: "small", disabled: !page.next_cursor, on: { click: () => { newerPages.push(cursor); cursor = page.next_cursor; load(); } } }, "Older →");
    const n = page.data.length;
    replace(pager, h("span", {}, n ? `${fmt.int(n)} request${n === 1 ? "" : "s"} on this page` : ""), h("div", { class: "toolbar" }, newer, older));
  }

  await load();
}
