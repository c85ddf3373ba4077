// The dashboard's plumbing: the session (token and brand in session storage, never in a URL),
// calls to the same HTTP API every client uses, and a tiny DOM builder that only ever sets
// text (no HTML from data).

import { ago, decodeToken, errorInWords, tokenBrands, tokenExpired } from "./logic.js";

const TOKEN = "taskcore.token";
const BRAND = "taskcore.brand";

/** The signed-in session, or null. */
export function session() {
  const token = sessionStorage.getItem(TOKEN);
  if (!token) return null;
  const claims = decodeToken(token) || {};
  const brand = Number(sessionStorage.getItem(BRAND)) || null;
  return { token, claims, brand, brands: tokenBrands(claims) };
}

export function signIn(token, brand) {
  sessionStorage.setItem(TOKEN, token.trim());
  sessionStorage.setItem(BRAND, String(brand));
}

export function setBrand(brand) {
  sessionStorage.setItem(BRAND, String(brand));
}

/** Forgets the session and shows the sign-in page with `message`. */
export function signOut(message) {
  sessionStorage.removeItem(TOKEN);
  sessionStorage.removeItem(BRAND);
  if (message) sessionStorage.setItem("taskcore.message", message);
  location.hash = "#/signin";
}

/** An API error: the contract's body, and the words to show. */
export class ApiError extends Error {
  constructor(status, body) {
    super(errorInWords(status, body));
    this.status = status;
    this.body = body || {};
  }
}

/** Calls the API as the signed-in user (JSON in and out). A 401 ends the session. */
export async function api(method, path, body, options = {}) {
  const s = options.session || session();
  const headers = { Accept: "application/json" };
  if (s) headers.Authorization = `Bearer ${s.token}`;
  const brand = options.brand ?? s?.brand;
  if (brand) headers["X-Brand-ID"] = String(brand);
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, { detail: "The node could not be reached." });
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { detail: text.slice(0, 200) };
  }
  if (!res.ok) {
    if (res.status === 401 && !options.noSignOut) {
      const expired = s && tokenExpired(s.claims);
      signOut(expired ? "Your token has expired: sign in with a new one." : errorInWords(401, data));
    }
    throw new ApiError(res.status, data);
  }
  return data;
}

/** Builds an element: `h("a", {href: "#"}, "text", child)`. Strings become text nodes. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replaces what `view` shows with `children` (null and false ones left out: the DOM's own
 * `replaceChildren` would print them as text). */
export function show(view, ...children) {
  view.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

/** A time as the reader's local time, with how long ago (or ahead) it is; "—" for none. */
export function when(iso) {
  if (!iso) return "—";
  const t = new Date(iso);
  return Number.isNaN(t.getTime()) ? iso : `${t.toLocaleString()} (${ago(iso)})`;
}

/** A definition list of `[label, value]` pairs. */
export function kv(pairs) {
  return h("dl", { class: "kv" }, pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "—")]));
}

/** Shows a message above the page (`error` or `info`); empty clears it. */
export function flash(message, kind = "error") {
  const el = document.getElementById("flash");
  el.className = message ? kind : "";
  el.textContent = message || "";
}

export function statusBadge(status) {
  return h("span", { class: `status ${status}` }, status);
}

export function progressBar(pct) {
  const bar = h("span", {});
  // Through the CSSOM: the page's Content-Security-Policy refuses style attributes.
  bar.style.width = `${Math.max(0, Math.min(100, Number(pct) || 0))}%`;
  return h("div", { class: "progress", role: "progressbar", "aria-valuenow": pct, "aria-valuemin": 0,
    "aria-valuemax": 100, "aria-label": "Progress", title: `${pct}%` }, bar);
}

export function json(value) {
  return h("pre", {}, value === null || value === undefined ? "null" : JSON.stringify(value, null, 2));
}

/** Runs an action with a confirmation, shows its error in words or `done` on success. */
export async function act(question, action, done) {
  if (question && !window.confirm(question)) return false;
  try {
    await action();
    if (done) flash(done, "info");
    return true;
  } catch (e) {
    flash(e.message);
    return false;
  }
}
