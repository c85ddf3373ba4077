// Pure functions of the dashboard: no DOM, no network. Tested with `node --test` (logic.test.mjs).

/** The list filters the Tasks page understands, in the order its form shows them. */
export const FILTERS = [
  "status", "priority", "task_type", "task_type__startswith", "created_after",
  "created_before", "search", "has_metrics", "is_resumable", "ordering", "page", "page_size",
];

/** A page URL's query (`status=failed&page=2`) as filter state: only known keys, non-empty. */
export function queryToFilters(query) {
  const params = new URLSearchParams(query.startsWith("?") ? query.slice(1) : query);
  const filters = {};
  for (const key of FILTERS) {
    const value = params.get(key);
    if (value !== null && value.trim() !== "") filters[key] = value.trim();
  }
  return filters;
}

/** Filter state as the query of both the page URL and the API call (same names as the API). */
export function filtersToQuery(filters) {
  const params = new URLSearchParams();
  for (const key of FILTERS) {
    const value = filters[key];
    if (value === undefined || value === null || String(value).trim() === "") continue;
    if (key === "page" && String(value) === "1") continue;
    params.set(key, String(value).trim());
  }
  return params.toString();
}

/** The ordering after a click on column `field`: ascending, then descending, then off. */
export function toggleOrdering(ordering, field) {
  const current = (ordering || "").split(",").filter(Boolean)[0] || "";
  if (current === field) return `-${field}`;
  if (current === `-${field}`) return "";
  return field;
}

/** Milliseconds in words: "850 ms", "12 s", "3 min 5 s", "2 h 10 min", "3 d 4 h". */
export function formatDuration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "—";
  if (ms < 0) ms = 0;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

/** How long ago `iso` was, from `now` (ms since the epoch): "5 s ago", "in 3 min". */
export function ago(iso, now = Date.now()) {
  if (!iso) return "—";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "—";
  const diff = now - t;
  return diff >= 0 ? `${formatDuration(diff)} ago` : `in ${formatDuration(-diff)}`;
}

const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const DAY_NAMES = { SUN: 0, MON: 1, TUE: 2, WED: 3, THU: 4, FRI: 5, SAT: 6 };
const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
  "September", "October", "November", "December"];
const MONTH_NAMES = { JAN: 1, FEB: 2, MAR: 3, APR: 4, MAY: 5, JUN: 6, JUL: 7, AUG: 8, SEP: 9,
  OCT: 10, NOV: 11, DEC: 12 };

function everyInterval(seconds) {
  if (seconds % 86400 === 0) return seconds === 86400 ? "every day" : `every ${seconds / 86400} days`;
  if (seconds % 3600 === 0) return seconds === 3600 ? "every hour" : `every ${seconds / 3600} hours`;
  if (seconds % 60 === 0) return seconds === 60 ? "every minute" : `every ${seconds / 60} minutes`;
  return seconds === 1 ? "every second" : `every ${seconds} seconds`;
}

function pad(n) {
  return String(n).padStart(2, "0");
}

function listWords(field, table, word) {
  return field.split(",").map((part) => {
    const [a, b] = part.split("-").map((x) => {
      const up = x.toUpperCase();
      return up in table ? table[up] : Number(x);
    });
    return b === undefined ? word(a) : `${word(a)} to ${word(b)}`;
  }).join(", ");
}

/** A schedule (`{cron}` or `{interval_seconds}`) in words; the cron text itself when it is not a
 * shape this describes. */
export function describeSchedule(schedule) {
  if (!schedule) return "—";
  if (schedule.interval_seconds) return everyInterval(schedule.interval_seconds);
  const cron = (schedule.cron || "").trim();
  const f = cron.split(/\s+/);
  if (f.length !== 5) return cron || "—";
  const [min, hour, dom, mon, dow] = f;
  const simple = /^\d+$/;
  let when;
  if (min === "*" && hour === "*") when = "every minute";
  else if (/^\*\/\d+$/.test(min) && hour === "*") when = `every ${min.slice(2)} minutes`;
  else if (simple.test(min) && hour === "*") when = `every hour at minute ${Number(min)}`;
  else if (simple.test(min) && simple.test(hour)) when = `at ${pad(hour)}:${pad(min)}`;
  else if (simple.test(min) && /^[\d,]+$/.test(hour)) {
    when = `at ${hour.split(",").map((h) => `${pad(h)}:${pad(min)}`).join(", ")}`;
  } else return cron;
  const plain = /^[\w,-]+$/;
  if ([dom, mon, dow].some((x) => x !== "*" && !plain.test(x))) return cron;
  const parts = [when];
  if (dow !== "*") parts.push(`on ${listWords(dow, DAY_NAMES, (n) => DAYS[n % 7] ?? String(n))}`);
  if (dom !== "*") parts.push(`on day ${dom} of the month`);
  if (mon !== "*") parts.push(`in ${listWords(mon, MONTH_NAMES, (n) => MONTHS[n - 1] ?? String(n))}`);
  if (dow === "*" && dom === "*" && simple.test(hour)) parts.push("every day");
  return parts.join(" ");
}

/** The claims of a JWT (unverified: for display only; the server checks every request). */
export function decodeToken(token) {
  const parts = String(token || "").trim().split(".");
  if (parts.length !== 3) return null;
  try {
    const b64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    const padded = b64 + "=".repeat((4 - (b64.length % 4)) % 4);
    const text = typeof atob === "function" ? atob(padded) : Buffer.from(padded, "base64").toString("binary");
    const bytes = Uint8Array.from(text, (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return claims && typeof claims === "object" ? claims : null;
  } catch {
    return null;
  }
}

/** The brands a token names (`[{id, name}]`). */
export function tokenBrands(claims) {
  const brands = claims && Array.isArray(claims.brands) ? claims.brands : [];
  return brands.filter((b) => b && Number.isInteger(b.id) && typeof b.name === "string");
}

/** Whether a token has expired by `now` (ms). */
export function tokenExpired(claims, now = Date.now()) {
  return Boolean(claims && typeof claims.exp === "number" && claims.exp * 1000 <= now);
}

/** A contract error body in words, for people. */
export function errorInWords(status, body) {
  const code = body && body.error_code;
  const detail = (body && body.detail) || `HTTP ${status}`;
  switch (code) {
    case "INVALID_OPERATION": {
      const allowed = (body.allowed_statuses || []).join(" or ");
      return `Not possible while the task is ${body.current_status}: only when it is ${allowed}.`;
    }
    case "MAX_RETRIES_EXCEEDED":
      return `No retries left: ${body.retry_count} of ${body.max_retries} used.`;
    case "VALIDATION_ERROR": {
      const fields = body.field_errors || {};
      const lines = Object.entries(fields).map(([k, v]) => `${k}: ${[].concat(v).join(" ")}`);
      return lines.length ? `Some fields are not valid — ${lines.join("; ")}` : detail;
    }
    case "NOT_AUTHENTICATED":
    case "TOKEN_INVALID":
      return "Your token was refused (expired, or not for this cluster). Sign in again.";
    case "PERMISSION_DENIED":
      return `Not allowed: ${detail}`;
    case "NOT_FOUND":
      return "Not found: it may have been deleted.";
    case "UNAVAILABLE":
      return "The cluster has no leader right now; try again in a moment.";
    default:
      return code ? `${detail} (${code})` : detail;
  }
}

/** Points for a sparkline of `values` in a `width` × `height` box, `max` at the top (by
 * default the largest value: several lines on one chart share one). */
export function sparkline(values, width, height, max = Math.max(1, ...values)) {
  if (!values.length) return "";
  const step = values.length > 1 ? width / (values.length - 1) : 0;
  return values
    .map((v, i) => `${(i * step).toFixed(1)},${(height - (v / max) * height).toFixed(1)}`)
    .join(" ");
}
