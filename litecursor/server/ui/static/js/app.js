// The admin page: the session, the frame (side bar, who is logged in), and which view a path
// shows. Views live in views/; each draws into `main` and may return a function that stops
// what it started (refresh timers) when another view replaces it.

import * as api from "./api.js";
import { h, icon, replace } from "./dom.js";
import { errorBox, loading } from "./ui.js";
import * as overview from "./views/overview.js";
import * as developers from "./views/developers.js";
import * as developer from "./views/developer.js";
import * as logs from "./views/logs.js";
import * as request from "./views/request.js";
import * as keys from "./views/keys.js";
import * as models from "./views/models.js";

const NAV = [
  ["overview", "Overview", "/ui/"],
  ["developers", "Developers", "/ui/developers"],
  ["logs", "Logs", "/ui/logs"],
  ["keys", "Keys", "/ui/keys"],
  ["models", "Models", "/ui/models"],
];

const ROUTES = [
  [/^\/ui\/?$/, "overview", overview],
  [/^\/ui\/developers\/?$/, "developers", developers],
  [/^\/ui\/developers\/(.+)$/, "developers", developer],
  [/^\/ui\/logs\/?$/, "logs", logs],
  [/^\/ui\/logs\/(.+)$/, "logs", request],
  [/^\/ui\/keys\/?$/, "keys", keys],
  [/^\/ui\/models\/?$/, "models", models],
];

const root = document.getElementById("app");
let stopView = null;
let frame = null;

export function navigate(url, { replaceState = false } = {}) {
  if (replaceState) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  route();
}

function nextOf(path) {
  return path.startsWith("/ui") && !path.startsWith("/ui/login") ? path : "/ui/";
}

function showLogin(message) {
  const next = new URLSearchParams(location.search).get("next") || nextOf(location.pathname + location.search);
  if (location.pathname !== "/ui/login") history.replaceState(null, "", "/ui/login?next=" + encodeURIComponent(next));
  if (stopView) stopView();
  stopView = null;
  frame = null;
  document.title = "Log in · litecursor";
  const input = h("input", { type: "password", name: "key", id: "key", autocomplete: "current-password", placeholder: "sk-…", required: true, autofocus: true });
  const status = h("div", { role: "alert" }, message ? h("div", { class: "alert warn" }, message) : null);
  const button = h("button", { type: "submit", class: "primary" }, "Log in");
  const form = h(
    "form",
    {
      on: {
        submit: async (ev) => {
          ev.preventDefault();
          button.disabled = true;
          replace(status);
          try {
            await api.login(input.value.trim());
            navigate(nextOf(next), { replaceState: true });
          } catch (e) {
            replace(status, errorBox(e));
            input.select();
          } finally {
            button.disabled = false;
          }
        },
      },
    },
    h("label", { class: "field", for: "key" }, "Master key or admin key", input),
    status,
    button,
  );
  replace(
    root,
    h("div", { class: "login" }, h("div", { class: "card" }, h("div", { class: "brand" }, h("img", { src: "/ui/static/icon.svg", alt: "" }), "litecursor"), h("p", {}, "Log in to the gateway's admin page."), form)),
  );
  root.className = "";
  input.focus();
}

function buildFrame() {
  const main = h("main", { id: "main", tabIndex: -1 });
  const navEl = h(
    "nav",
    { "aria-label": "Pages" },
    NAV.map(([id, label, href]) => h("a", { href, dataset: { nav: id } }, icon(id), label)),
  );
  const user = api.currentSession()?.user;
  const who = user?.kind === "master" ? "master key" : user?.alias || user?.id || "admin";
  const logoutBtn = h("button", { type: "button", on: { click: doLogout } }, "Log out");
  const side = h("aside", { class: "side" }, h("div", { class: "brand" }, h("img", { src: "/ui/static/icon.svg", alt: "" }), "litecursor"), navEl, h("div", { class: "who" }, h("span", { title: "logged in as" }, who), logoutBtn));
  replace(root, h("div", { class: "layout" }, side, main));
  root.className = "";
  frame = { main, navEl };
}

async function doLogout() {
  try {
    await api.logout();
  } catch {
    // the session is dropped here whatever the gateway said
  }
  history.replaceState(null, "", "/ui/login");
  showLogin("You are logged out.");
}

async function route() {
  if (!api.currentSession()) {
    showLogin();
    return;
  }
  if (location.pathname.startsWith("/ui/login")) {
    history.replaceState(null, "", nextOf(new URLSearchParams(location.search).get("next") || "/ui/"));
  }
  if (!frame) buildFrame();
  if (stopView) stopView();
  stopView = null;
  const path = location.pathname;
  const found = ROUTES.find(([re]) => re.test(path));
  for (const a of frame.navEl.querySelectorAll("a")) a.classList.toggle("active", !!found && a.dataset.nav === found[1]);
  const main = frame.main;
  if (!found) {
    replace(main, errorBox(new Error(`There is no page at ${path}.`)));
    return;
  }
  const [re, , view] = found;
  const params = path.match(re).slice(1).map(decodeURIComponent);
  replace(main, loading());
  const ctx = {
    params,
    query: new URLSearchParams(location.search),
    navigate,
    /** Put the view's state in the address (so reload and links keep it), without drawing again. */
    setQuery(values) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(values)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
      const text = q.toString();
      history.replaceState(null, "", location.pathname + (text ? "?" + text : ""));
    },
    setTitle(title) {
      document.title = `${title} · litecursor`;
    },
  };
  try {
    const stop = await view.render(main, ctx);
    if (typeof stop === "function") stopView = stop;
  } catch (e) {
    if (e.status === 401) return;
    replace(main, errorBox(e));
  }
}

// links inside the page change the view without loading the page again
document.addEventListener("click", (ev) => {
  const a = ev.target.closest("a[href]");
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || !url.pathname.startsWith("/ui") || a.target) return;
  ev.preventDefault();
  navigate(url.pathname + url.search);
});
window.addEventListener("popstate", route);
api.onSessionLost((message) => showLogin(`Your session has ended (${message}). Log in again.`));

async function boot() {
  try {
    api.setSession(await api.get("/ui/api/session"));
  } catch (e) {
    if (e.status !== 401) {
      replace(root, h("div", { class: "login" }, errorBox(e)));
      return;
    }
  }
  route();
}

boot();
