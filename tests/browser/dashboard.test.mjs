// The dashboard in headless Chromium (Debian's `chromium`, driven by playwright-core) against a
// real `taskcore serve --dev` node built from this repository. Screenshots of every page land
// in target/browser-screenshots/. Without Chromium the test says so and is skipped; with
// TASKCORE_REQUIRE_BROWSER=1 (CI) that is a failure instead.
//
//   npm ci --prefix tests/browser && node --test tests/browser/

import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import test from "node:test";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const BIN = process.env.TASKCORE_BIN_DIR || join(REPO, "target", "debug");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const SHOTS = join(REPO, "target", "browser-screenshots");
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

/** Starts a --dev node; resolves to its URL, printed token and data directory. */
function startDevNode() {
  const dir = mkdtempSync(join(tmpdir(), "taskcore-ui-"));
  const proc = spawn(join(BIN, "taskcore"), ["serve", "--dev", "--http-addr", "127.0.0.1:0",
    "--raft-addr", "127.0.0.1:0", "--data-dir", join(dir, "data")], {
    env: { ...process.env, TASKCORE_LOG: "error" }, stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    let url = null;
    const timer = setTimeout(() => reject(new Error("the node did not start in 30 s")), 30_000);
    createInterface({ input: proc.stdout }).on("line", (line) => {
      const m = line.match(/listening on (http:\/\/\S+)/);
      if (m) url = m[1];
      if (line.startsWith("eyJ") && url) {
        clearTimeout(timer);
        resolve({ proc, url, token: line.trim(), dir });
      }
    });
    proc.on("exit", (code) => reject(new Error(`the node exited (${code})`)));
  });
}

function mint(dataDir, args) {
  const secret = readFileSync(join(dataDir, "dev-jwt-secret"), "utf8").trim();
  return execFileSync(join(BIN, "taskctl"), ["token", "--secret", secret, ...args]).toString().trim();
}

async function call(node, token, method, path, body) {
  const res = await fetch(node.url + path, { method, headers: { Authorization: `Bearer ${token}`,
    "X-Brand-ID": "1", "Content-Type": "application/json" }, body: body && JSON.stringify(body) });
  assert.ok(res.ok, `${method} ${path}: ${res.status}`);
  return res.status === 204 ? null : res.json();
}

/** Text a page shows outside its JSON boxes that reads "null" or "undefined" (a rendering slip). */
function strayNulls(page) {
  return page.locator("main").evaluate((main) => {
    const walker = document.createTreeWalker(main, NodeFilter.SHOW_TEXT);
    const found = [];
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      if (!n.parentElement.closest("pre") && /^(null|undefined)$/.test(n.textContent.trim())) found.push(n.textContent);
    }
    return found;
  });
}

async function until(check, what, timeout = 15_000) {
  const end = Date.now() + timeout;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error(`${what} did not happen within ${timeout} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test("the dashboard, page by page, in headless Chromium", async (t) => {
  if (!existsSync(CHROMIUM)) {
    const why = `no Chromium at ${CHROMIUM} (apt-get install chromium)`;
    if (process.env.TASKCORE_REQUIRE_BROWSER) assert.fail(`the browser tests must run here, but ${why}`);
    t.skip(`SKIPPED: ${why}`);
    return;
  }
  mkdirSync(SHOTS, { recursive: true });
  const node = await startDevNode();
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
  t.after(async () => {
    await browser.close();
    node.proc.kill("SIGKILL");
    rmSync(node.dir, { recursive: true, force: true });
  });
  const later = new Date(Date.now() + 3_600_000).toISOString();
  const made = [];
  for (const type of ["seo_keyword_analysis", "data_export", "data_export"]) {
    made.push(await call(node, node.token, "POST", "/tasks/", { task_type: type, description: "ui-test",
      scheduled_for: later, priority: type === "data_export" ? "high" : "low" }));
  }
  const periodic = await call(node, node.token, "POST", "/periodic-tasks/", { name: "nightly export",
    task_type: "data_export", schedule: { cron: "0 9 * * MON" }, timezone: "Europe/Paris" });

  const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  page.on("dialog", (d) => d.accept());
  const shot = (name) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  const flash = page.locator("#flash");

  await t.test("a bad token is refused with a clear message", async () => {
    await page.goto(`${node.url}/ui/`);
    await page.fill("#token", "not-a-token");
    await page.click("text=Sign in >> nth=1");
    await until(async () => (await flash.textContent()).includes("That is not a token"), "the message");
    const expired = mint(node.dir + "/data", ["--brand-claim", "1:Default", "--ttl", "0"]);
    await page.fill("#token", expired);
    await page.click("button[type=submit]");
    await until(async () => (await flash.textContent()).includes("expired"), "the expiry message");
    await shot("signin-refused");
  });

  await t.test("a brand outside the token is a 403 in words", async () => {
    const other = mint(node.dir + "/data", ["--brand-claim", "2:Other"]);
    await page.fill("#token", other);
    await page.fill("#other-brand", "1");
    await page.click("button[type=submit]");
    await until(async () => (await flash.textContent()).startsWith("Not allowed"), "the 403 message");
    await page.fill("#other-brand", "");
  });

  await t.test("sign in and see the overview", async () => {
    await page.fill("#token", node.token);
    assert.equal(await page.locator("#brand option").first().textContent(), "Default (1)");
    await page.click("button[type=submit]");
    await page.waitForSelector("h1:text('Overview')");
    const high = page.locator("section[aria-label='high queue']");
    await until(async () => (await high.textContent()).includes("Pending2"), "two high tasks pending");
    assert.ok(!page.url().includes(node.token), "the token never appears in the URL");
    // A figure for BENCHMARKS.md, not an assertion: a full reload of the overview, from the
    // request of the page to its four queues drawn.
    const started = Date.now();
    await page.reload();
    await page.waitForSelector("section[aria-label='low queue'] dd");
    const bytes = await page.evaluate(() => performance.getEntriesByType("resource")
      .concat(performance.getEntriesByType("navigation"))
      .filter((e) => e.name.includes("/ui/"))
      .reduce((n, e) => n + (e.encodedBodySize || 0), 0));
    console.log(`overview: loaded in ${Date.now() - started} ms; dashboard files ${bytes} bytes`);
    await shot("overview");
  });

  await t.test("tasks: filters in the URL, ordering by column", async () => {
    await page.goto(`${node.url}/ui/#/tasks?search=ui-test&priority=high`);
    await page.waitForSelector("tbody tr");
    assert.equal(await page.locator("tbody tr").count(), 2);
    await page.selectOption("select[name=status]", "pending");
    await page.click("text=Apply");
    await until(() => page.url().includes("status=pending"), "the filter in the URL");
    await page.click("th button:text('Id')");
    await until(() => page.url().includes("ordering=id"), "the ordering in the URL");
    await page.waitForSelector("th[aria-sort=ascending]");
    const ids = await page.locator("tbody tr td:first-child").allTextContents();
    assert.deepEqual(ids, [String(made[1].id), String(made[2].id)]);
    await page.click("th button:text('Id')");
    await page.waitForSelector("th[aria-sort=descending]");
    assert.deepEqual(await page.locator("tbody tr td:first-child").allTextContents(),
      [String(made[2].id), String(made[1].id)]);
    assert.deepEqual(await strayNulls(page), []);
    await shot("tasks");
  });

  await t.test("a task's detail: cancel, a refused cancel in words, retry", async () => {
    await page.click(`text=${made[2].task_id}`);
    await page.waitForSelector(`h1:text('${made[2].task_id}')`);
    await page.click("button:text('Cancel')");
    await until(async () => (await flash.textContent()) === "Cancelled.", "the cancel");
    await page.waitForSelector("h1 .status.cancelled");
    await page.click("button:text('Cancel')");
    await until(async () => (await flash.textContent()).includes(
      "Not possible while the task is cancelled: only when it is pending or running."), "the refusal");
    await page.selectOption("select[name=new_priority]", "critical");
    await page.click("form[aria-label='Retry options'] button");
    await until(async () => (await flash.textContent()) === "Queued for retry.", "the retry");
    await page.waitForSelector("h1 .status.pending");
    await page.waitForSelector("text=Attempts");
    assert.deepEqual(await strayNulls(page), []);
    await shot("task-detail");
    const after = await call(node, node.token, "GET", `/tasks/${made[2].id}/`);
    assert.equal(after.priority, "critical");
    assert.equal(after.retry_count, 1);
  });

  await t.test("periodic tasks: the schedule in words, pause", async () => {
    await page.goto(`${node.url}/ui/#/periodic`);
    await page.waitForSelector("text=at 09:00 on Monday");
    await page.click("button:text('Pause')");
    await until(async () => (await flash.textContent()) === "Paused.", "the pause");
    await page.waitForSelector("button:text('Resume')");
    assert.deepEqual(await strayNulls(page), []);
    await shot("periodic");
    const p = await call(node, node.token, "GET", `/periodic-tasks/${periodic.id}/`);
    assert.equal(p.enabled, false);
  });

  await t.test("the cluster page, and without the admin role", async () => {
    await page.goto(`${node.url}/ui/#/cluster`);
    await page.waitForSelector("text=Members");
    assert.equal(await page.locator("tbody tr td:nth-child(2)").first().textContent(), "leader");
    await shot("cluster");
    const user = mint(node.dir + "/data", ["--brand-claim", "1:Default"]);
    await page.click("#sign-out");
    await page.fill("#token", user);
    await page.click("button[type=submit]");
    await page.waitForSelector("h1:text('Overview')");
    await page.goto(`${node.url}/ui/#/cluster`);
    await page.waitForSelector("text=needs a token with the admin role");
  });

  await t.test("an expired session returns to sign-in", async () => {
    const short = mint(node.dir + "/data", ["--brand-claim", "1:Default", "--ttl", "2"]);
    await page.click("#sign-out");
    await page.fill("#token", short);
    await page.click("button[type=submit]");
    await page.waitForSelector("h1:text('Overview')");
    await new Promise((r) => setTimeout(r, 2500));
    await page.goto(`${node.url}/ui/#/tasks`);
    await until(async () => (await flash.textContent()).includes("expired"), "the expiry message");
    await page.waitForSelector("h1:text('Sign in')");
  });

  await t.test("the API reference at /docs/", async () => {
    await page.goto(`${node.url}/docs/`);
    await page.waitForSelector("text=Task Core", { timeout: 15_000 });
    await page.waitForSelector("text=/tasks/");
    await shot("docs");
  });

  await t.test("a phone-sized screen", async () => {
    await page.setViewportSize({ width: 390, height: 800 });
    await page.goto(`${node.url}/ui/#/signin`);
    await page.fill("#token", node.token);
    await page.click("button[type=submit]");
    await page.waitForSelector("h1:text('Overview')");
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 400, `no horizontal scrolling of the page (${width} px)`);
    await shot("overview-phone");
  });
});
