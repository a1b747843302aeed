// Building the page: elements from data (text only, never HTML strings), and how numbers,
// money, times and durations read.

const SVG_NS = "http://www.w3.org/2000/svg";

function apply(el, props) {
  for (const [name, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") el.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
    else if (name === "on") for (const [ev, fn] of Object.entries(value)) el.addEventListener(ev, fn);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name === "style") Object.assign(el.style, value);
    else if (name in el && typeof value !== "string" && el.namespaceURI !== SVG_NS) el[name] = value;
    else el.setAttribute(name, value === true ? "" : String(value));
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** An HTML element: h("td", {class: "num"}, "12"). Children are nodes or text. */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  apply(el, props);
  append(el, children);
  return el;
}

/** An SVG element, the same way. */
export function s(tag, props, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  apply(el, props);
  append(el, children);
  return el;
}

export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// -- icons (drawn here, 24x24 strokes) ---------------------------------------------------------

const ICONS = {
  overview: "M3 13h4v8H3zM10 8h4v13h-4zM17 3h4v18h-4z",
  developers: "M16 11a4 4 0 1 0-8 0 4 4 0 0 0 8 0zM4 21a8 8 0 0 1 16 0",
  logs: "M4 5h16M4 10h16M4 15h10M4 20h7",
  keys: "M14 10a4 4 0 1 1-8 0 4 4 0 0 1 8 0zM13 12l8 8M17 16l2-2M19 18l2-2",
  models: "M12 3l8 4.5v9L12 21l-8-4.5v-9zM12 12l8-4.5M12 12v9M12 12L4 7.5",
  inbox: "M4 13l3-8h10l3 8v6H4zM4 13h5l1 3h4l1-3h5",
  search: "M11 18a7 7 0 1 0 0-14 7 7 0 0 0 0 14zM20 20l-4-4",
};

export function icon(name) {
  return s("svg", { viewBox: "0 0 24 24", "aria-hidden": "true" }, s("path", { d: ICONS[name] }));
}

// -- formatting ------------------------------------------------------------------------------

const intFmt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });

export const fmt = {
  int(n) {
    return n === null || n === undefined ? "–" : intFmt.format(n);
  },
  /** 1234 -> 1.2k, 3400000 -> 3.4M */
  compact(n) {
    if (n === null || n === undefined) return "–";
    const a = Math.abs(n);
    if (a >= 1e9) return (n / 1e9).toFixed(a >= 1e10 ? 0 : 1) + "B";
    if (a >= 1e6) return (n / 1e6).toFixed(a >= 1e7 ? 0 : 1) + "M";
    if (a >= 1e3) return (n / 1e3).toFixed(a >= 1e4 ? 0 : 1) + "k";
    return intFmt.format(n);
  },
  money(n) {
    if (n === null || n === undefined) return "–";
    if (n === 0) return "$0";
    const a = Math.abs(n);
    const digits = a >= 100 ? 0 : a >= 1 ? 2 : a >= 0.01 ? 3 : 5;
    // cents always show; a third decimal only when it says something ($0.125, not $0.500)
    return "$" + n.toFixed(digits).replace(/(\.\d\d\d*?)0+$/, "$1");
  },
  pct(part, whole) {
    if (!whole) return "–";
    const p = (100 * part) / whole;
    return (p > 0 && p < 0.1 ? "<0.1" : p.toFixed(p >= 10 ? 0 : 1)) + "%";
  },
  ms(n) {
    if (n === null || n === undefined) return "–";
    if (n >= 60000) return (n / 60000).toFixed(1) + " min";
    if (n >= 10000) return (n / 1000).toFixed(1) + " s";
    if (n >= 1000) return (n / 1000).toFixed(2) + " s";
    return Math.round(n) + " ms";
  },
  /** An ISO time or epoch seconds, in the browser's time zone. */
  time(t) {
    const d = toDate(t);
    return d ? d.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" }) : "–";
  },
  date(t) {
    const d = toDate(t);
    return d ? d.toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" }) : "–";
  },
  /** "3 min ago", "in 2 h" */
  ago(t) {
    const d = toDate(t);
    if (!d) return "never";
    const sec = (Date.now() - d.getTime()) / 1000;
    const abs = Math.abs(sec);
    const [n, unit] = abs < 60 ? [abs, "s"] : abs < 3600 ? [abs / 60, "min"] : abs < 86400 ? [abs / 3600, "h"] : [abs / 86400, "d"];
    const text = `${Math.round(n)} ${unit}`;
    return sec >= 0 ? (abs < 5 ? "just now" : `${text} ago`) : `in ${text}`;
  },
};

export function toDate(t) {
  if (t === null || t === undefined || t === "") return null;
  const d = typeof t === "number" ? new Date(t * 1000) : new Date(t);
  return Number.isNaN(d.getTime()) ? null : d;
}

/**
 * A short, stable, readable name for who sent a request: a key's alias, else its display
 * name, else the start of its hash; "master key"; "no key" for requests refused without one.
 * Takes a log row or a developer row.
 */
export function keyLabel(row) {
  if (!row) return "–";
  const hash = row.key_hash || row.token; // a log or developer row, or a key record
  if (row.kind === "master" || (!hash && row.key_alias === "master")) return "master key";
  if (row.kind === "none" || !hash) return "no key";
  return row.key_alias || row.key_name || hash.slice(0, 10) + "…";
}

/** The developer page of a key (log or developer row). */
export function developerHref(row) {
  const id = row.key_hash || (keyLabel(row) === "master key" ? "master" : "none");
  return `/ui/developers/${encodeURIComponent(id)}`;
}

export function statusPill(status, extra) {
  const cls = status === 499 ? "warn" : status >= 400 ? "bad" : "ok";
  const text = status === 499 ? "499 client gone" : String(status);
  return h("span", { class: ["pill", cls], title: extra || undefined }, text);
}
