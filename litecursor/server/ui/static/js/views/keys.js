// Keys: create one per developer (shown once), block, unblock, regenerate, delete. Calls
// the same endpoints as the API (`/key/generate`, `/key/block`, ...).

import * as api from "../api.js";
import { h, fmt, replace, keyLabel } from "../dom.js";
import { meter } from "../charts.js";
import { pageHead, panel, table, emptyState, errorBox, dialog, confirmAction, secretBox } from "../ui.js";
import { keyState } from "./developers.js";

const DURATIONS = [
  ["", "never"],
  ["1d", "1 day"],
  ["7d", "7 days"],
  ["30d", "30 days"],
  ["90d", "90 days"],
  ["365d", "1 year"],
];
const BUDGET_PERIODS = [
  ["", "never resets"],
  ["1d", "daily"],
  ["7d", "weekly"],
  ["30d", "every 30 days"],
  ["1mo", "monthly (calendar)"],
];

function numberOrNull(input, name, whole) {
  const v = input.value.trim();
  if (!v) return null;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || (whole && !Number.isInteger(n))) throw new Error(`${name} must be ${whole ? "a whole number" : "a number"}, 0 or more`);
  return n;
}

/** The key, shown once, and what to do with it. */
function showKey(title, key, record) {
  return dialog(title, (close) => ({
    body: [
      h("p", {}, "Copy this key now: it is shown once and stored only as a hash. Give it to ", h("b", {}, keyLabel(record)), "."),
      secretBox(key),
      h("p", { class: "help" }, "In Cursor: Settings → Models → API Keys → OpenAI API Key, with the base URL ", h("code", {}, `${location.origin}/cursor`), "."),
    ],
    foot: h("button", { type: "button", class: "primary", on: { click: () => close(true) } }, "Done"),
  }));
}

async function createKey(models) {
  const f = {
    alias: h("input", { type: "text", name: "key_alias", placeholder: "e.g. alice-laptop", required: true, autocomplete: "off" }),
    user: h("input", { type: "text", name: "user_id", placeholder: "optional", autocomplete: "off" }),
    team: h("input", { type: "text", name: "team_id", placeholder: "optional (must exist)", autocomplete: "off" }),
    budget: h("input", { type: "number", name: "max_budget", min: "0", step: "0.01", placeholder: "no limit" }),
    period: h("select", { name: "budget_duration" }, BUDGET_PERIODS.map(([v, t]) => h("option", { value: v }, t))),
    rpm: h("input", { type: "number", name: "rpm_limit", min: "0", step: "1", placeholder: "no limit" }),
    tpm: h("input", { type: "number", name: "tpm_limit", min: "0", step: "1", placeholder: "no limit" }),
    parallel: h("input", { type: "number", name: "max_parallel_requests", min: "0", step: "1", placeholder: "no limit" }),
    expires: h("select", { name: "duration" }, DURATIONS.map(([v, t]) => h("option", { value: v }, t))),
  };
  const modelBoxes = models.map((m) => h("input", { type: "checkbox", name: "models", value: m }));
  const status = h("div", { role: "alert" });
  return dialog("Create a key", (close) => {
    const submit = async (ev) => {
      ev.preventDefault();
      replace(status);
      let body;
      try {
        body = {
          key_alias: f.alias.value.trim(),
          models: modelBoxes.filter((b) => b.checked).map((b) => b.value),
          max_budget: numberOrNull(f.budget, "Budget"),
          rpm_limit: numberOrNull(f.rpm, "Requests per minute", true),
          tpm_limit: numberOrNull(f.tpm, "Tokens per minute", true),
          max_parallel_requests: numberOrNull(f.parallel, "Parallel requests", true),
        };
      } catch (e) {
        replace(status, errorBox(e));
        return;
      }
      if (f.user.value.trim()) body.user_id = f.user.value.trim();
      if (f.team.value.trim()) body.team_id = f.team.value.trim();
      if (f.period.value) body.budget_duration = f.period.value;
      if (f.expires.value) body.duration = f.expires.value;
      try {
        const created = await api.post("/key/generate", body);
        close(created);
      } catch (e) {
        replace(status, errorBox(e));
      }
    };
    const form = h(
      "form",
      { id: "create-key", class: "form-grid", on: { submit } },
      h("label", { class: "field wide" }, "Name (alias)", f.alias, h("span", { class: "help" }, "How this developer shows in Developers and Logs.")),
      h("label", { class: "field" }, "User id", f.user),
      h("label", { class: "field" }, "Team id", f.team),
      h("label", { class: "field" }, "Budget (USD)", f.budget),
      h("label", { class: "field" }, "Budget resets", f.period),
      h("label", { class: "field" }, "Requests per minute", f.rpm),
      h("label", { class: "field" }, "Tokens per minute", f.tpm),
      h("label", { class: "field" }, "Parallel requests", f.parallel),
      h("label", { class: "field" }, "Expires in", f.expires),
      h("div", { class: "field wide" }, h("span", {}, "Models"), h("div", { class: "checks" }, modelBoxes.map((b) => h("label", {}, b, b.value))), h("span", { class: "help" }, "None ticked: every model.")),
      h("div", { class: "wide" }, status),
    );
    return {
      body: form,
      foot: [h("button", { type: "button", on: { click: () => close(undefined) } }, "Cancel"), h("button", { type: "submit", class: "primary", form: "create-key" }, "Create key")],
    };
  });
}

export async function render(main, ctx) {
  ctx.setTitle("Keys");
  const status = h("div", {});
  const body = h("div", {}, h("div", { class: "loading" }, "Loading…"));
  let models = [];
  const createBtn = h("button", { type: "button", class: "primary", id: "new-key" }, "+ Create key");
  replace(main, pageHead("Keys", "One key per developer: their spend, limits and logs follow the key."), status, panel(null, body));

  function notify(kind, text) {
    replace(status, h("div", { class: `alert ${kind}`, role: "status" }, text));
  }

  async function act(fn, done) {
    try {
      await fn();
      if (done) notify("ok", done);
      await load();
    } catch (e) {
      if (e.status !== 401) replace(status, errorBox(e));
    }
  }

  function actions(k) {
    const block = k.blocked
      ? h("button", { type: "button", class: "small", on: { click: () => act(() => api.post("/key/unblock", { key: k.token }), `${keyLabel(k)} is unblocked.`) } }, "Unblock")
      : h("button", { type: "button", class: "small", on: { click: () => act(() => api.post("/key/block", { key: k.token }), `${keyLabel(k)} is blocked: its requests are refused.`) } }, "Block");
    const regen = h("button", {
      type: "button",
      class: "small",
      on: {
        click: async () => {
          if (!(await confirmAction("Regenerate key", `The current key of ${keyLabel(k)} stops working at once; a new one is shown once.`, "Regenerate"))) return;
          await act(async () => {
            const done = await api.post("/key/regenerate", { key: k.token });
            await showKey("New key", done.key, done);
          });
        },
      },
    }, "Regenerate");
    const del = h("button", {
      type: "button",
      class: "small danger",
      on: {
        click: async () => {
          if (!(await confirmAction("Delete key", `Delete ${keyLabel(k)}? Its requests are refused from now on. Its logs and spend stay.`, "Delete"))) return;
          await act(() => api.post("/key/delete", { keys: [k.token] }), `${keyLabel(k)} is deleted.`);
        },
      },
    }, "Delete");
    return h("div", { class: "toolbar" }, block, regen, del);
  }

  const columns = [
    { title: "Key", cell: (k) => h("div", {}, h("a", { href: `/ui/developers/${encodeURIComponent(k.token)}` }, keyLabel(k)), h("div", { class: "sub mono" }, k.key_name)) },
    { title: "State", cell: (k) => keyState({ ...k, expires_at: k.expires }) },
    { title: "User / team", cell: (k) => h("div", {}, k.user_id || h("span", { class: "faint" }, "–"), k.team_id ? h("div", { class: "sub" }, k.team_id) : null) },
    { title: "Models", cell: (k) => (k.models.length ? h("div", { class: "chips" }, k.models.map((m) => h("span", { class: "chip" }, m))) : h("span", { class: "faint" }, "all")) },
    { title: "Budget", cell: (k) => h("div", {}, meter(k.spend, k.max_budget), k.budget_duration ? h("div", { class: "sub" }, `resets every ${k.budget_duration}`) : null) },
    { title: "Limits", cell: (k) => [k.rpm_limit ? `${fmt.int(k.rpm_limit)} rpm` : null, k.tpm_limit ? `${fmt.compact(k.tpm_limit)} tpm` : null, k.max_parallel_requests ? `${k.max_parallel_requests} parallel` : null].filter(Boolean).join(" · ") || h("span", { class: "faint" }, "none") },
    { title: "Expires", cell: (k) => (k.expires ? h("span", { title: fmt.time(k.expires) }, fmt.date(k.expires)) : h("span", { class: "faint" }, "never")) },
    { title: "Created", cell: (k) => fmt.date(k.created_at) },
    { title: "", cell: actions },
  ];

  async function load() {
    try {
      const [list, modelList] = await Promise.all([api.get("/key/list", { return_full_object: "true", size: 1000 }), api.get("/v1/models")]);
      models = modelList.data.map((m) => m.id);
      const rows = list.keys;
      replace(body, h("div", { class: "panel-head" }, h("div", {}, h("h2", {}, `${fmt.int(list.total_count)} key${list.total_count === 1 ? "" : "s"}`)), createBtn), table(columns, rows, { dense: true, empty: emptyState("No keys yet", "Create one key per developer: each gets its own budget, limits and usage view. Until then, only the master key works.") }));
    } catch (e) {
      replace(body);
      if (e.status !== 401) replace(status, errorBox(e));
    }
  }

  createBtn.addEventListener("click", async () => {
    const created = await createKey(models);
    if (!created) return;
    await showKey("Key created", created.key, created);
    notify("ok", `${keyLabel(created)} is created.`);
    await load();
  });

  await load();
}
