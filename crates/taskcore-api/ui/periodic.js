// The Periodic tasks page: schedules in words, next and last runs; create, edit, pause and
// resume, run now, delete.

import { act, api, flash, h, show } from "./core.js";
import { ago, describeSchedule } from "./logic.js";

function editor(view, existing) {
  const p = existing || {};
  const s = p.schedule || {};
  const form = h("form", { class: "filters", "aria-label": existing ? "Edit periodic task" : "New periodic task",
    onsubmit: async (e) => {
      e.preventDefault();
      const d = Object.fromEntries(new FormData(form).entries());
      const body = { name: d.name, task_type: d.task_type, timezone: d.timezone || "UTC",
        description: d.description || "" };
      body.schedule = d.kind === "cron" ? { cron: d.when } : { interval_seconds: Number(d.when) };
      const [method, path] = existing ? ["PATCH", `/periodic-tasks/${p.id}/`] : ["POST", "/periodic-tasks/"];
      if (await act(null, () => api(method, path, body), existing ? "Saved." : "Created.")) periodicPage(view);
    } },
  h("label", {}, "Name", h("input", { name: "name", required: true, value: p.name || "" })),
  h("label", {}, "Task type", h("input", { name: "task_type", required: true, value: p.task_type || "" })),
  h("label", {}, "Schedule", h("select", { name: "kind" },
    h("option", { value: "cron", selected: !s.interval_seconds }, "cron"),
    h("option", { value: "interval", selected: Boolean(s.interval_seconds) }, "every N seconds"))),
  h("label", {}, "Cron or seconds", h("input", { name: "when", required: true,
    value: s.cron || s.interval_seconds || "", placeholder: "0 9 * * MON" })),
  h("label", {}, "Time zone", h("input", { name: "timezone", value: p.timezone || "UTC" })),
  h("label", {}, "Description", h("input", { name: "description", value: p.description || "" })),
  h("div", { class: "actions" }, h("button", { class: "primary", type: "submit" }, existing ? "Save" : "Create"),
    h("button", { type: "button", onclick: () => periodicPage(view) }, "Close")));
  return form;
}

/** `#/periodic`: the brand's periodic tasks. */
export async function periodicPage(view) {
  const data = await api("GET", "/periodic-tasks/?page_size=100");
  const items = Array.isArray(data) ? data : data.results;
  const slot = h("div", {});
  const rows = items.map((p) => h("tr", {},
    h("td", {}, p.name), h("td", {}, p.task_type),
    h("td", { title: p.schedule.cron || `${p.schedule.interval_seconds} s` }, describeSchedule(p.schedule)),
    h("td", {}, p.timezone),
    h("td", { title: p.next_run_at || "" }, p.enabled ? ago(p.next_run_at) : "paused"),
    h("td", { title: p.last_run_at || "" }, ago(p.last_run_at)),
    h("td", {}, String(p.total_run_count)),
    h("td", {}, p.enabled ? "yes" : "no"),
    h("td", {}, h("div", { class: "actions" },
      h("button", { type: "button", onclick: async () => {
        const body = { enabled: !p.enabled };
        if (await act(null, () => api("PATCH", `/periodic-tasks/${p.id}/`, body), p.enabled ? "Paused." : "Resumed.")) periodicPage(view);
      } }, p.enabled ? "Pause" : "Resume"),
      h("button", { type: "button", onclick: async () => {
        await act(null, async () => {
          const t = await api("POST", `/periodic-tasks/${p.id}/run-now/`, {});
          flash(`Created ${t.task_id}.`, "info");
        });
      } }, "Run now"),
      h("button", { type: "button", onclick: () => slot.replaceChildren(editor(view, p)) }, "Edit"),
      h("button", { type: "button", class: "danger", onclick: async () => {
        if (await act(`Delete the periodic task "${p.name}"? The tasks it created stay.`,
          () => api("DELETE", `/periodic-tasks/${p.id}/`), "Deleted.")) periodicPage(view);
      } }, "Delete")))));
  show(view, h("h1", {}, "Periodic tasks"),
    h("div", { class: "actions" }, h("button", { type: "button", class: "primary",
      onclick: () => slot.replaceChildren(editor(view, null)) }, "New periodic task")),
    slot,
    h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, ["Name", "Type", "Schedule", "Time zone", "Next run", "Last run", "Runs",
        "Enabled", ""].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows))),
    items.length ? null : h("p", { class: "muted" }, "No periodic task yet."));
}
