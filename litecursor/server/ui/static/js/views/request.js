// One request: who sent it, where it went (each attempt on a time line), what it used and
// cost, how it failed; the prompt and the answer when the gateway keeps them.

import * as api from "../api.js";
import { h, fmt, replace, keyLabel, developerHref, statusPill } from "../dom.js";
import { timeline } from "../charts.js";
import { panel, table, errorBox, pageHead } from "../ui.js";

function kv(pairs) {
  return h(
    "dl",
    { class: "kv" },
    pairs.filter(Boolean).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v === null || v === undefined || v === "" ? h("span", { class: "faint" }, "–") : v)]),
  );
}

function pretty(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

function bodyPanel(title, text, truncated) {
  return panel(title, h("div", { class: "panel-body" }, h("pre", { class: "body" }, pretty(text))), { hint: truncated ? "truncated to log_body_max_kb" : null });
}

export async function render(main, ctx) {
  const id = ctx.params[0];
  ctx.setTitle(`Request ${id.slice(0, 12)}`);
  let r;
  try {
    r = await api.get(`/logs/${encodeURIComponent(id)}`);
  } catch (e) {
    if (e.status === 404) {
      replace(main, h("div", { class: "crumbs" }, h("a", { href: "/ui/logs" }, "Logs"), " / "), errorBox(new Error(`No request ${id} in the log: it may be older than the retention period, or not written yet (rows are written within a second).`)));
      return;
    }
    throw e;
  }
  const total = r.latency_ms;
  const who = h("a", { href: developerHref(r) }, keyLabel(r));
  const summary = kv([
    ["Request id", h("span", { class: "mono" }, r.request_id)],
    ["Time", `${fmt.time(r.start_time)} → ${fmt.time(r.end_time)}`],
    ["Route", h("span", { class: "mono" }, `${r.method || ""} ${r.route || ""}`)],
    ["Streamed", r.stream ? "yes" : "no"],
    ["Developer", who],
    ["User / team", [r.user_id || "–", " / ", r.team_id || "–"]],
    ["End user", r.end_user ? h("span", { class: "mono" }, r.end_user) : null],
    ["Client", [r.client_ip || "–", r.user_agent ? h("div", { class: "sub" }, r.user_agent) : null]],
    ["Conversation", r.conversation_id ? h("span", { class: "mono" }, r.conversation_id) : null],
  ]);
  const routing = kv([
    ["Model asked for", r.model],
    ["Model group", r.model_group],
    ["Answered by", r.deployment ? h("span", { class: "mono" }, r.deployment) : null],
    ["Provider", r.provider],
    ["Upstream status", r.upstream_status !== null && r.upstream_status !== undefined ? String(r.upstream_status) : null],
    ["Retries / fallbacks", `${r.retries} / ${r.fallbacks}`],
  ]);
  const usage = table(
    [
      { title: "", cell: (x) => x[0] },
      { title: "Tokens", num: true, cell: (x) => fmt.int(x[1]) },
    ],
    [
      ["Input", r.prompt_tokens],
      ["  of which cached", r.cached_tokens],
      ["  written to cache", r.cache_write_tokens],
      ["Output", r.completion_tokens],
      ["  of which reasoning", r.reasoning_tokens],
    ],
  );
  const cost = h("div", { class: "stat-inline" }, h("b", {}, fmt.money(r.spend)), r.estimated ? h("span", { class: "pill warn", title: "the upstream did not report usage (the stream was cut): tokens were estimated from the text" }, "estimated") : null);
  const times = kv([
    ["Cost", cost],
    ["Total time", fmt.ms(r.latency_ms)],
    ["First byte", r.ttft_ms !== null && r.ttft_ms !== undefined ? fmt.ms(r.ttft_ms) : "no byte was sent"],
    ["Tokens per second", r.completion_tokens && r.latency_ms && r.ttft_ms !== null ? fmt.int(r.completion_tokens / Math.max(0.001, (r.latency_ms - r.ttft_ms) / 1000)) : null],
  ]);
  const attempts = r.attempts && r.attempts.length
    ? h("div", { class: "panel-body" }, timeline({ attempts: r.attempts, totalMs: total, firstByteMs: r.ttft_ms }), table(
        [
          { title: "#", cell: (a) => String(r.attempts.indexOf(a) + 1) },
          { title: "Deployment", cell: (a) => h("span", { class: "mono" }, a.deployment) },
          { title: "Result", cell: (a) => (a.status ? statusPill(a.status) : h("span", { class: "pill ok" }, "answered")) },
          { title: "Started", num: true, cell: (a) => (a.start_ms === undefined || a.start_ms === null ? "–" : `+${fmt.ms(a.start_ms)}`) },
          { title: "Took", num: true, cell: (a) => fmt.ms(a.latency_ms) },
          { title: "Error", cls: () => "err", cell: (a) => (a.error ? h("span", { title: a.error }, a.error) : "") },
        ],
        r.attempts,
      ))
    : h("div", { class: "panel-body muted" }, "No upstream was called for this request.");
  const error = r.error_message
    ? h("div", { class: "alert bad", role: "status" }, h("b", {}, r.error_type || "error"), ": ", r.error_message)
    : null;
  const bodies = [];
  if (r.request_body !== null && r.request_body !== undefined) bodies.push(bodyPanel("Prompt (request body)", r.request_body, r.request_body_truncated));
  if (r.response_body !== null && r.response_body !== undefined) bodies.push(bodyPanel("Answer", r.response_body, r.response_body_truncated));
  if (!bodies.length && r.model) {
    bodies.push(panel("Prompt and answer", h("div", { class: "panel-body muted" }, "Not kept for this request. The gateway keeps them with ", h("code", {}, "general_settings.store_prompts_in_spend_logs: true"), ", each cut to litecursor_settings.log_body_max_kb.")));
  }
  replace(
    main,
    h("div", { class: "crumbs" }, h("a", { href: "/ui/logs" }, "Logs"), " / request"),
    pageHead(h("span", {}, statusPill(r.status), " ", r.model || r.route || "request"), fmt.time(r.start_time)),
    error,
    h("div", { class: "grid cols-2" }, panel("Request", h("div", { class: "panel-body" }, summary)), panel("Routing", h("div", { class: "panel-body" }, routing))),
    panel("Attempts", attempts, { hint: "each try at a deployment, from the request's start" }),
    h("div", { class: "grid cols-2" }, panel("Tokens", usage), panel("Cost and timings", h("div", { class: "panel-body" }, times))),
    bodies,
  );
}
