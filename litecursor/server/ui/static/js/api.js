// The gateway's JSON endpoints, called with the session cookie. Every change carries the
// session's CSRF token; an error answer becomes an ApiError with the gateway's own message.

let session = null;
const lostListeners = [];

export class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function currentSession() {
  return session;
}

export function setSession(value) {
  session = value;
}

/** Called when the gateway says the session is over (expired, logged out elsewhere). */
export function onSessionLost(fn) {
  lostListeners.push(fn);
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  const text = q.toString();
  return text ? "?" + text : "";
}

async function call(method, path, { params, body, signal, headers } = {}) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json", ...headers }, signal };
  if (method !== "GET") {
    init.headers["Content-Type"] = "application/json";
    if (session && session.csrf_token) init.headers[session.csrf_header || "x-csrf-token"] = session.csrf_token;
    init.body = JSON.stringify(body ?? {});
  }
  let resp;
  try {
    resp = await fetch(path + query(params), init);
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, "The gateway cannot be reached. Is it running?", "network");
  }
  const text = await resp.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!resp.ok) {
    const err = data && data.error ? data.error : {};
    const message = err.message || `${method} ${path} failed with status ${resp.status}`;
    if (resp.status === 401 && session && path !== "/ui/login") {
      session = null;
      for (const fn of lostListeners) fn(message);
    }
    throw new ApiError(resp.status, message, err.code);
  }
  return { data, headers: resp.headers };
}

export async function get(path, params, signal) {
  return (await call("GET", path, { params, signal })).data;
}

/** GET that also returns the response headers (paging cursors travel in them). */
export async function getWithHeaders(path, params, signal) {
  return call("GET", path, { params, signal });
}

export async function post(path, body) {
  return (await call("POST", path, { body })).data;
}

export async function login(key) {
  const data = await post("/ui/login", { key });
  session = data;
  return data;
}

export async function logout() {
  try {
    await post("/ui/api/logout", {});
  } finally {
    session = null;
  }
}
