// The page's building blocks: panels, tables, stat cards, empty states, errors, dialogs.

import { h, icon, replace } from "./dom.js";

export function pageHead(title, sub, ...tools) {
  return h("div", { class: "page-head" }, h("div", {}, h("h1", {}, title), sub ? h("div", { class: "sub" }, sub) : null), tools.length ? h("div", { class: "toolbar" }, tools) : null);
}

export function panel(title, body, { hint, tools, id } = {}) {
  return h(
    "section",
    { class: "panel", id },
    title || tools ? h("div", { class: "panel-head" }, h("div", {}, h("h2", {}, title), hint ? h("div", { class: "hint" }, hint) : null), tools || null) : null,
    body,
  );
}

export function stat(label, value, note, cls) {
  return h("div", { class: ["stat", cls] }, h("div", { class: "label" }, label), h("div", { class: "value" }, value), note ? h("div", { class: "note" }, note) : null);
}

/**
 * A table: `columns` are {title, cell(row) -> node|text, num?}; `onRow(row)` makes rows
 * clickable (and reachable with the keyboard).
 */
export function table(columns, rows, { onRow, rowHref, empty, dense } = {}) {
  if (!rows.length) return empty || emptyState("Nothing here yet");
  const head = h("thead", {}, h("tr", {}, columns.map((c) => h("th", { class: c.num ? "num" : null, title: c.help || null }, c.title))));
  const body = h(
    "tbody",
    {},
    rows.map((row) => {
      const tr = h("tr", { class: onRow ? "link" : null }, columns.map((c) => h("td", { class: [c.num ? "num" : null, c.cls ? c.cls(row) : null] }, c.cell(row))));
      if (onRow) {
        tr.tabIndex = 0;
        tr.addEventListener("click", (ev) => {
          if (ev.target.closest("a, button")) return;
          onRow(row, ev);
        });
        tr.addEventListener("keydown", (ev) => {
          if (ev.key === "Enter") onRow(row, ev);
        });
        if (rowHref) tr.dataset.href = rowHref(row);
      }
      return tr;
    }),
  );
  return h("div", { class: "table-wrap" }, h("table", { class: dense ? "dense" : null }, head, body));
}

export function emptyState(title, ...text) {
  return h("div", { class: "empty" }, icon("inbox"), h("div", { class: "title" }, title), text.length ? h("div", {}, text) : null);
}

export function errorBox(err) {
  const message = err && err.message ? err.message : String(err);
  return h("div", { class: "alert bad", role: "alert" }, message);
}

export function loading(text = "Loading…") {
  return h("div", { class: "loading", "aria-busy": "true" }, text);
}

/** Segmented buttons; `onChange(value)` when another is chosen. */
export function segmented(options, value, onChange, label) {
  const el = h("div", { class: "seg", role: "group", "aria-label": label || null });
  const draw = (current) =>
    replace(
      el,
      options.map(([v, text]) =>
        h("button", { type: "button", class: v === current ? "on" : null, "aria-pressed": v === current ? "true" : "false", on: { click: () => { draw(v); onChange(v); } } }, text),
      ),
    );
  draw(value);
  return el;
}

/**
 * A modal dialog. `build(close)` returns {body, foot}; resolves with what `close` was given
 * (undefined when dismissed).
 */
export function dialog(title, build) {
  return new Promise((resolve) => {
    const d = h("dialog", {});
    const close = (value) => {
      d.close();
      d.remove();
      resolve(value);
    };
    const { body, foot } = build(close);
    d.append(
      h("div", { class: "d-head" }, h("h2", {}, title), h("button", { type: "button", class: "small", "aria-label": "Close", on: { click: () => close(undefined) } }, "✕")),
      h("div", { class: "d-body" }, body),
      foot ? h("div", { class: "d-foot" }, foot) : null,
    );
    d.addEventListener("cancel", (ev) => {
      ev.preventDefault();
      close(undefined);
    });
    document.body.append(d);
    d.showModal();
  });
}

/** Ask before doing something that cannot be undone. */
export function confirmAction(title, text, action = "Confirm", danger = true) {
  return dialog(title, (close) => ({
    body: h("p", {}, text),
    foot: [h("button", { type: "button", on: { click: () => close(false) } }, "Cancel"), h("button", { type: "button", class: danger ? "primary danger-fill" : "primary", on: { click: () => close(true) } }, action)],
  }));
}

/** A secret shown once, with a button that copies it. */
export function secretBox(value) {
  const code = h("code", { class: "secret-value" }, value);
  const btn = h("button", { type: "button", class: "small" }, "Copy");
  btn.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(value);
      btn.textContent = "Copied";
    } catch {
      const range = document.createRange();
      range.selectNodeContents(code);
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      btn.textContent = "Selected: press Ctrl+C";
    }
  });
  return h("div", { class: "secret" }, code, btn);
}

/** Refreshes `fn` every `seconds` while the page is visible; returns a stop function. */
export function every(seconds, fn) {
  const id = setInterval(() => {
    if (document.visibilityState === "visible") fn();
  }, seconds * 1000);
  return () => clearInterval(id);
}
