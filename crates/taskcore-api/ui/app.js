// The dashboard: sign-in, overview, cluster, and the router that shows each page.

import { ApiError, api, flash, h, kv, session, setBrand, show, signIn, signOut } from "./core.js";
import { ago, decodeToken, formatDuration, sparkline, tokenBrands, tokenExpired } from "./logic.js";
import { periodicPage } from "./periodic.js";
import { taskPage, tasksPage } from "./tasks.js";

const PRIORITIES = ["critical", "high", "normal", "low"];
const REFRESH_MS = 5000;
let timer = null;
/** Completed and failed counts seen by the overview's polls, for its chart. */
const seen = { completed: [], failed: [] };

function deltas(values) {
  return values.slice(1).map((v, i) => Math.max(0, v - values[i]));
}

function signInPage(view) {
  const message = sessionStorage.getItem("taskcore.message");
  sessionStorage.removeItem("taskcore.message");
  const brandSelect = h("select", { name: "brand", id: "brand" });
  const other = h("input", { name: "other", id: "other-brand", inputmode: "numeric", placeholder: "id" });
  const token = h("textarea", { name: "token", id: "token", required: true, autocomplete: "off",
    spellcheck: "false", oninput: () => fillBrands() });
  function fillBrands() {
    const brands = tokenBrands(decodeToken(token.value));
    brandSelect.replaceChildren(...brands.map((b) => h("option", { value: b.id }, `${b.name} (${b.id})`)));
  }
  const form = h("form", { class: "signin", "aria-label": "Sign in", onsubmit: async (e) => {
    e.preventDefault();
    const claims = decodeToken(token.value);
    if (!claims) return flash("That is not a token: paste the whole JWT (three parts separated by dots).");
    if (tokenExpired(claims)) return flash("This token has expired: ask for a new one.");
    const brand = Number(other.value) || Number(brandSelect.value);
    if (!brand) return flash("Choose a brand: this token names none, so give its id.");
    const trial = { token: token.value.trim(), claims };
    try {
      await api("GET", "/tasks/queue-stats/", undefined, { session: trial, brand, noSignOut: true });
    } catch (err) {
      return flash(err.message);
    }
    signIn(token.value, brand);
    flash("");
    location.hash = "#/";
  } },
  h("h1", {}, "Sign in"),
  h("p", { class: "muted" }, "Paste a token (from taskctl token, or the one a --dev node prints). It stays in this tab's session storage only."),
  h("label", {}, "Token", token),
  h("label", {}, "Brand", brandSelect),
  h("label", {}, "Or another brand id", other),
  h("button", { class: "primary", type: "submit" }, "Sign in"));
  show(view, form);
  if (message) flash(message);
  token.focus();
}

async function overviewPage(view) {
  const s = session();
  const midnight = `${new Date().toISOString().slice(0, 10)}T00:00:00Z`;
  const [stats, today, node] = await Promise.all([
    api("GET", "/tasks/queue-stats/"),
    api("GET", `/tasks/queue-stats/?created_after=${midnight}`),
    fetch("/status").then((r) => r.json()),
  ]);
  const oldest = await Promise.all(PRIORITIES.map((p) =>
    api("GET", `/tasks/?status=pending&priority=${p}&ordering=created_at&page_size=1`)
      .then((page) => page.results[0]?.created_at ?? null)));
  const dist = stats.status_distribution;
  for (const k of ["completed", "failed"]) {
    seen[k].push(dist[k]);
    if (seen[k].length > 60) seen[k].shift();
  }
  const done = deltas(seen.completed);
  const failed = deltas(seen.failed);
  let cluster = null;
  if (s.claims.roles?.includes("admin") || s.claims.is_staff) {
    cluster = await api("GET", "/cluster/status/").catch(() => null);
  }
  show(view, 
    h("h1", {}, "Overview"),
    h("div", { class: "cards" }, PRIORITIES.map((p, i) => h("section", { class: "card", "aria-label": `${p} queue` },
      h("h3", {}, p[0].toUpperCase() + p.slice(1)), kv([
        ["Pending", stats.queues[p].pending], ["Running", stats.queues[p].running],
        ["Oldest pending", oldest[i] ? ago(oldest[i]).replace(" ago", "") : "—"],
        ["Created today", stats.queues[p].total_today],
        ["Avg processing", stats.avg_processing_time_minutes[p] == null ? "—"
          : formatDuration(stats.avg_processing_time_minutes[p] * 60000)],
      ])))),
    h("h2", {}, "All tasks"),
    h("div", { class: "cards" },
      h("section", { class: "card" }, h("h3", {}, "By status"), kv(Object.entries(dist))),
      h("section", { class: "card" }, h("h3", {}, "Created today (UTC)"), kv([
        ["Created", today.total_tasks], ["Completed", today.status_distribution.completed],
        ["Failed", today.status_distribution.failed], ["Cancelled", today.status_distribution.cancelled],
      ])),
      h("section", { class: "card" }, h("h3", {}, `Finished per ${REFRESH_MS / 1000} s`),
        h("svg", { class: "spark", viewBox: "0 0 200 48", preserveAspectRatio: "none", role: "img",
          "aria-label": `completed (blue) and failed (red) tasks per ${REFRESH_MS / 1000} s since this page opened` }),
        h("p", { class: "muted" }, done.length
          ? `now: ${done[done.length - 1]} completed, ${failed[failed.length - 1]} failed (since this page opened)`
          : "measuring…")),
      h("section", { class: "card" }, h("h3", {}, "This node"), kv([
        ["Ready", node.ready ? "yes" : "no"], ["Leader", node.leader ? "this node" : String(node.leader_id ?? "none")],
        ["Term", node.term], ["Applied", node.last_applied], ["Leases held", node.leases_held],
        ["Workers waiting", node.long_polls],
      ])),
      cluster ? h("section", { class: "card" }, h("h3", {}, "Cluster"), kv([
        ["Leader", String(cluster.leader_id ?? "none")], ["Voters", cluster.membership.voters.join(", ")],
        ["Largest lag", Math.max(0, ...Object.values(cluster.replication || {}).map((r) => r.lag))],
      ]), h("a", { href: "#/cluster" }, "Members →")) : null));
  const svg = view.querySelector("svg.spark");
  const top = Math.max(1, ...done, ...failed);
  for (const [values, cls] of [[done, "done"], [failed, "failed"]]) {
    const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    line.setAttribute("points", sparkline(values, 200, 44, top));
    line.setAttribute("class", cls);
    svg.append(line);
  }
  timer = setTimeout(() => route(), REFRESH_MS);
}

async function clusterPage(view) {
  let c;
  try {
    c = await api("GET", "/cluster/status/");
  } catch (e) {
    if (e instanceof ApiError && e.status === 403) {
      show(view, h("h1", {}, "Cluster"), h("p", {}, "The cluster page needs a token with the admin role."));
      return;
    }
    throw e;
  }
  const m = c.membership;
  const rows = Object.entries(m.nodes).map(([id, n]) => {
    const r = (c.replication || {})[id];
    const role = Number(id) === c.leader_id ? "leader" : m.voters.includes(Number(id)) ? "voter" : "learner";
    return h("tr", {}, h("td", {}, id), h("td", {}, role), h("td", {}, n.http_addr), h("td", {}, n.raft_addr),
      h("td", {}, r ? String(r.matched ?? "—") : "—"), h("td", {}, r ? String(r.lag) : "—"));
  });
  show(view, h("h1", {}, "Cluster"),
    h("div", { class: "cards" }, h("section", { class: "card" }, kv([
      ["Asked node", `${c.node_id} (${c.state})`], ["Leader", String(c.leader_id ?? "none")], ["Term", c.term],
      ["Last log index", c.last_log_index], ["Applied", c.last_applied], ["Snapshot", c.snapshot],
    ]))),
    h("h2", {}, "Members"),
    h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, h("tr", {},
      ["Node", "Role", "HTTP", "Raft", "Matched", "Lag"].map((x) => h("th", { scope: "col" }, x)))), h("tbody", {}, rows))),
    c.replication ? null : h("p", { class: "muted" }, "Matched index and lag are known to the leader: open this page on the leader's node to see them."));
  timer = setTimeout(() => route(), REFRESH_MS);
}

function chrome(s) {
  document.getElementById("nav").hidden = !s;
  document.getElementById("who").hidden = !s;
  if (!s) return;
  const sw = document.getElementById("brand-switch");
  const brands = s.brands.some((b) => b.id === s.brand) ? s.brands : [...s.brands, { id: s.brand, name: "brand" }];
  sw.replaceChildren(...brands.map((b) => h("option", { value: b.id, selected: b.id === s.brand }, `${b.name} (${b.id})`)));
  const here = location.hash.split("?")[0].split("/")[1] || "";
  for (const a of document.querySelectorAll("#nav a")) {
    const target = a.getAttribute("href").split("/")[1] || "";
    if (target === here || (here === "task" && target === "tasks")) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

async function route() {
  clearTimeout(timer);
  const view = document.getElementById("view");
  const [path, query = ""] = location.hash.replace(/^#/, "").split("?");
  const s = session();
  chrome(s);
  if (!s || path === "/signin") return signInPage(view);
  if (tokenExpired(s.claims)) return signOut("Your token has expired: sign in with a new one.");
  const parts = path.split("/").filter(Boolean);
  try {
    if (parts[0] === "tasks") await tasksPage(view, query);
    else if (parts[0] === "task" && parts[1]) await taskPage(view, parts[1]);
    else if (parts[0] === "periodic") await periodicPage(view);
    else if (parts[0] === "cluster") await clusterPage(view);
    else await overviewPage(view);
  } catch (e) {
    if (session()) show(view, h("h1", {}, "Something went wrong"), h("p", { role: "alert" }, e.message));
  }
}

window.addEventListener("hashchange", () => {
  flash("");
  route();
});
document.getElementById("sign-out").addEventListener("click", () => signOut(""));
document.getElementById("brand-switch").addEventListener("change", (e) => {
  setBrand(e.target.value);
  route();
});
route();
