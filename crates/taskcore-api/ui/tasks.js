// The Tasks page (filters as controls, state in the URL) and a task's detail with its actions.

import { act, api, h, json, kv, progressBar, show, statusBadge, when } from "./core.js";
import { ago, filtersToQuery, formatDuration, queryToFilters, toggleOrdering } from "./logic.js";

const STATUSES = ["pending", "running", "completed", "failed", "cancelled"];
const PRIORITIES = ["low", "normal", "high", "critical"];
const COLUMNS = [
  ["id", "Id"], [null, "Task"], ["task_type", "Type"], ["status", "Status"], ["priority", "Priority"],
  ["progress_percentage", "Progress"], ["created_at", "Created"], ["updated_at", "Updated"],
];

function go(filters) {
  const q = filtersToQuery(filters);
  location.hash = q ? `#/tasks?${q}` : "#/tasks";
}

function field(label, control) {
  return h("label", {}, label, control);
}

function select(name, value, options, blank = "any") {
  return h("select", { name }, h("option", { value: "" }, blank),
    options.map((o) => h("option", { value: o, selected: o === value }, o)));
}

function filterForm(f) {
  const form = h("form", { class: "filters", "aria-label": "Filters", onsubmit: (e) => {
    e.preventDefault();
    const data = Object.fromEntries(new FormData(form).entries());
    data.ordering = f.ordering || "";
    go(data);
  } },
  field("Status", select("status", f.status, STATUSES)),
  field("Priority", select("priority", f.priority, PRIORITIES)),
  field("Type", h("input", { name: "task_type", value: f.task_type || "" })),
  field("Type starts with", h("input", { name: "task_type__startswith", value: f.task_type__startswith || "" })),
  field("Created after", h("input", { name: "created_after", type: "date", value: f.created_after || "" })),
  field("Created before", h("input", { name: "created_before", type: "date", value: f.created_before || "" })),
  field("Search", h("input", { name: "search", type: "search", value: f.search || "" })),
  field("Has metrics", select("has_metrics", f.has_metrics, ["true", "false"])),
  field("Resumable", select("is_resumable", f.is_resumable, ["true", "false"])),
  field("Per page", select("page_size", f.page_size, ["20", "50", "100", "500"], "20")),
  h("div", { class: "actions" }, h("button", { class: "primary", type: "submit" }, "Apply"),
    h("button", { type: "button", onclick: () => go({}) }, "Clear")));
  return form;
}

/** `#/tasks?…`: the list with the filters of the URL. */
export async function tasksPage(view, query) {
  const f = queryToFilters(query);
  show(view, h("h1", {}, "Tasks"), filterForm(f), h("p", { class: "muted" }, "Loading…"));
  const page = await api("GET", `/tasks/?${filtersToQuery(f)}`);
  const current = (f.ordering || "").split(",")[0];
  const head = h("tr", {}, COLUMNS.map(([key, label]) => {
    if (!key) return h("th", { scope: "col" }, label);
    const sort = current === key ? "ascending" : current === `-${key}` ? "descending" : "none";
    const mark = sort === "ascending" ? " ▲" : sort === "descending" ? " ▼" : "";
    return h("th", { scope: "col", "aria-sort": sort }, h("button", { type: "button",
      onclick: () => go({ ...f, ordering: toggleOrdering(f.ordering, key), page: "" }) }, label + mark));
  }));
  const rows = page.results.map((t) => h("tr", {},
    h("td", {}, h("a", { href: `#/task/${t.id}` }, String(t.id))),
    h("td", {}, h("a", { href: `#/task/${t.id}` }, t.task_id)),
    h("td", {}, t.task_type), h("td", {}, statusBadge(t.status)), h("td", {}, t.priority),
    h("td", {}, progressBar(t.progress_percentage)),
    h("td", { title: t.created_at }, ago(t.created_at)), h("td", { title: t.updated_at }, ago(t.updated_at))));
  const n = Number(f.page || 1);
  const pager = h("div", { class: "pager" },
    h("button", { type: "button", disabled: !page.previous, onclick: () => go({ ...f, page: String(n - 1) }) }, "← Previous"),
    h("span", {}, `Page ${n} · ${page.count} task${page.count === 1 ? "" : "s"}`),
    h("button", { type: "button", disabled: !page.next, onclick: () => go({ ...f, page: String(n + 1) }) }, "Next →"));
  show(view, h("h1", {}, "Tasks"), filterForm(f),
    h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, head), h("tbody", {}, rows))),
    page.results.length ? null : h("p", { class: "muted" }, "No task matches these filters."), pager);
}

function attemptsTimeline(attempts) {
  if (!attempts || !attempts.length) return h("p", { class: "muted" }, "No attempt yet.");
  return h("ol", { class: "timeline" }, attempts.map((a) => {
    const took = a.finished_at ? formatDuration(Date.parse(a.finished_at) - Date.parse(a.started_at)) : "running";
    return h("li", {}, h("strong", {}, `Attempt ${a.number}: ${a.outcome}`),
      h("div", { class: "muted" }, `${a.worker_id} · started ${ago(a.started_at)} · ${took}`),
      a.error_message ? h("div", {}, a.error_message) : null);
  }));
}

/** `#/task/ID`: every field, the attempts, the JSON, and the actions. */
export async function taskPage(view, id) {
  const t = await api("GET", `/tasks/${encodeURIComponent(id)}/`);
  const reload = () => taskPage(view, id);
  const retryForm = h("form", { class: "actions", "aria-label": "Retry options", onsubmit: async (e) => {
    e.preventDefault();
    const d = new FormData(retryForm);
    const body = { reset_progress: d.get("reset_progress") === "on", clear_errors: d.get("clear_errors") === "on" };
    if (d.get("new_priority")) body.new_priority = d.get("new_priority");
    if (await act(`Retry task ${t.task_id}?`, () => api("POST", `/tasks/${t.id}/retry/`, body), "Queued for retry.")) reload();
  } },
  h("label", { class: "inline" }, h("input", { type: "checkbox", name: "reset_progress", checked: true }), "Reset progress"),
  h("label", { class: "inline" }, h("input", { type: "checkbox", name: "clear_errors", checked: true }), "Clear errors"),
  h("label", { class: "inline" }, "New priority", select("new_priority", "", PRIORITIES, "unchanged")),
  h("button", { type: "submit" }, "Retry"));
  const cancel = h("button", { type: "button", class: "danger", onclick: async () => {
    if (await act(`Cancel task ${t.task_id}?`, () => api("POST", `/tasks/${t.id}/cancel/`, {}), "Cancelled.")) reload();
  } }, "Cancel");
  const del = h("button", { type: "button", class: "danger", onclick: async () => {
    if (await act(`Delete task ${t.task_id}? This cannot be undone.`, () => api("DELETE", `/tasks/${t.id}/`), "Deleted.")) {
      location.hash = "#/tasks";
    }
  } }, "Delete");
  const m = t.metrics;
  show(view, 
    h("p", {}, h("a", { href: "#/tasks" }, "← Tasks")),
    h("h1", {}, `${t.task_id} `, statusBadge(t.status)),
    h("div", { class: "actions" }, cancel, del), retryForm,
    h("div", { class: "cards" },
      h("section", { class: "card" }, h("h3", {}, "Task"), kv([
        ["Id", t.id], ["Type", t.task_type], ["Priority", t.priority], ["Description", t.description || "—"],
        ["Progress", h("span", {}, progressBar(t.progress_percentage), ` ${t.progress_percentage}%`)],
        ["Retries", `${t.retry_count} of ${t.max_retries}`], ["Timeout", `${t.timeout_minutes} min`],
        ["Brand", `${t.brand.name} (${t.brand.id})`], ["Created by", t.created_by.username],
        ["Periodic task", t.periodic_task ? h("a", { href: "#/periodic" }, String(t.periodic_task)) : "—"],
        ["Error", t.error_message || "—"],
      ])),
      h("section", { class: "card" }, h("h3", {}, "Times"), kv([
        ["Created", when(t.created_at)], ["Updated", when(t.updated_at)], ["Scheduled for", when(t.scheduled_for)],
        ["Started", when(t.started_at)], ["Completed", when(t.completed_at)], ["Cancelled", when(t.cancelled_at)],
      ])),
      h("section", { class: "card" }, h("h3", {}, "Metrics"), m ? kv([
        ["Execution", formatDuration(m.execution_time_ms)], ["Queue wait", formatDuration(m.queue_wait_ms)],
        ["CPU", formatDuration(m.cpu_time_ms)], ["Memory", m.memory_usage_mb == null ? "—" : `${m.memory_usage_mb} MB`],
      ]) : h("p", { class: "muted" }, "None reported."))),
    h("h2", {}, "Attempts"), attemptsTimeline(t.attempts),
    h("h2", {}, "Context"), json(t.context_data),
    h("h2", {}, "Result"), json(t.result_data),
    h("h2", {}, "Checkpoint"), t.persistent_job
      ? h("div", {}, kv([["Resumable", String(t.persistent_job.can_resume)], ["Saved", t.persistent_job.checkpointed_at]]),
        json(t.persistent_job.checkpoint))
      : h("p", { class: "muted" }, "No checkpoint."),
    m && m.custom && Object.keys(m.custom).length ? [h("h2", {}, "Custom metrics"), json(m.custom)] : null,
  );
}
