// Unit tests of the dashboard's pure logic: `node --test crates/taskcore-api/ui/`.
import assert from "node:assert/strict";
import test from "node:test";

import {
  ago, decodeToken, describeSchedule, errorInWords, filtersToQuery, formatDuration,
  queryToFilters, sparkline, toggleOrdering, tokenBrands, tokenExpired,
} from "./logic.js";

test("filters and the URL map to each other", () => {
  const filters = { status: "pending,running", task_type__startswith: "seo", page: "2", search: "a b" };
  const query = filtersToQuery(filters);
  assert.equal(query, "status=pending%2Crunning&task_type__startswith=seo&search=a+b&page=2");
  assert.deepEqual(queryToFilters(`?${query}`), filters);
  assert.deepEqual(queryToFilters("?bogus=1&status=&priority=high"), { priority: "high" });
  assert.equal(filtersToQuery({ page: "1", status: " " }), "", "defaults and blanks are left out");
});

test("a column click cycles its ordering", () => {
  assert.equal(toggleOrdering("", "priority"), "priority");
  assert.equal(toggleOrdering("priority", "priority"), "-priority");
  assert.equal(toggleOrdering("-priority", "priority"), "");
  assert.equal(toggleOrdering("-created_at", "id"), "id");
});

test("durations and ages read as words", () => {
  assert.equal(formatDuration(850), "850 ms");
  assert.equal(formatDuration(12_000), "12 s");
  assert.equal(formatDuration(185_000), "3 min 5 s");
  assert.equal(formatDuration(7_800_000), "2 h 10 min");
  assert.equal(formatDuration(3 * 86_400_000 + 4 * 3_600_000), "3 d 4 h");
  assert.equal(formatDuration(null), "—");
  const now = Date.parse("2024-12-20T14:30:00Z");
  assert.equal(ago("2024-12-20T14:29:55Z", now), "5 s ago");
  assert.equal(ago("2024-12-20T14:33:00Z", now), "in 3 min");
  assert.equal(ago(null, now), "—");
});

test("schedules read as words", () => {
  assert.equal(describeSchedule({ interval_seconds: 600 }), "every 10 minutes");
  assert.equal(describeSchedule({ interval_seconds: 86400 }), "every day");
  assert.equal(describeSchedule({ interval_seconds: 45 }), "every 45 seconds");
  assert.equal(describeSchedule({ cron: "0 9 * * MON" }), "at 09:00 on Monday");
  assert.equal(describeSchedule({ cron: "30 6 * * 1-5" }), "at 06:30 on Monday to Friday");
  assert.equal(describeSchedule({ cron: "0 0 1 JAN *" }), "at 00:00 on day 1 of the month in January");
  assert.equal(describeSchedule({ cron: "15 8 * * *" }), "at 08:15 every day");
  assert.equal(describeSchedule({ cron: "*/5 * * * *" }), "every 5 minutes");
  assert.equal(describeSchedule({ cron: "* * * * *" }), "every minute");
  assert.equal(describeSchedule({ cron: "0 */2 * * *" }), "0 */2 * * *", "unusual shapes stay as written");
  assert.equal(describeSchedule({ cron: "0 9 * * */2" }), "0 9 * * */2");
});

test("a token's claims are read for display", () => {
  const payload = Buffer.from(JSON.stringify({
    sub: "1", brands: [{ id: 9, name: "Humari" }, { id: "x", name: 1 }], exp: 2_000_000_000,
  })).toString("base64url");
  const claims = decodeToken(`h.${payload}.s`);
  assert.deepEqual(tokenBrands(claims), [{ id: 9, name: "Humari" }]);
  assert.equal(tokenExpired(claims, Date.parse("2024-01-01T00:00:00Z")), false);
  assert.equal(tokenExpired(claims, 2_000_000_000 * 1000), true);
  assert.equal(decodeToken("not a token"), null);
  assert.equal(decodeToken("a.%%%.c"), null);
});

test("contract errors read as words", () => {
  assert.equal(
    errorInWords(409, {
      error_code: "INVALID_OPERATION", detail: "x", current_status: "completed",
      allowed_statuses: ["pending", "running"],
    }),
    "Not possible while the task is completed: only when it is pending or running.",
  );
  assert.equal(
    errorInWords(409, { error_code: "MAX_RETRIES_EXCEEDED", retry_count: 3, max_retries: 3 }),
    "No retries left: 3 of 3 used.",
  );
  assert.match(
    errorInWords(400, { error_code: "VALIDATION_ERROR", field_errors: { priority: ["bad"] } }),
    /priority: bad/,
  );
  assert.match(errorInWords(401, { error_code: "TOKEN_INVALID" }), /Sign in again/);
  assert.equal(errorInWords(500, null), "HTTP 500");
});

test("a sparkline spans its box", () => {
  assert.equal(sparkline([0, 5, 10], 100, 20), "0.0,20.0 50.0,10.0 100.0,0.0");
  assert.equal(sparkline([], 100, 20), "");
  assert.equal(sparkline([0, 5], 100, 20, 20), "0.0,20.0 100.0,15.0", "a shared top");
});
