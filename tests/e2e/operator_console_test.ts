// The operator console in a real browser: headless Chromium (the Debian package) opens the page on the
// local stack after the demo's whole journeys and a small broken one, checks the counts and a demo couple's
// timeline, re-drives a dead run through the button and sees it succeed, and is refused without an
// operator's token. Writes docs/operator-console.png.
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { gatewayUrl } from "../../stack/config.ts";
import { localKeys } from "../../stack/keys.ts";
import { runDemo } from "../../scripts/demo/journey.ts";
import { emailScenario, startJourney } from "../helpers/fixtures.ts";
import { newSvixSecret, sim, stackDb, waitFor } from "../helpers/stack.ts";

const CHROMIUM = Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium";
const CONSOLE = `${gatewayUrl}/functions/v1/operator-console`;

function hasChromium(): boolean {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
}

Deno.test({
  name: "operator console shows counts, re-drives a dead run through its button and refuses non-operators",
  ignore: !hasChromium(),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const sql = stackDb();
    // launch() gives Chromium a fresh temporary profile (its own --user-data-dir) and removes it on close.
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    try {
      // The demo's two whole journeys, then a couple whose welcome email cannot render (no wedding
      // date): that run is dead.
      const demo = await runDemo(sql);
      const apiKey = `re_test_${crypto.randomUUID().replaceAll("-", "")}`;
      const webhookSecret = newSvixSecret();
      const s = await emailScenario(sql, {
        resend: { api_key: apiKey, webhook_secret: webhookSecret },
        client: { wedding_date: null, time_zone: "America/Chicago", couple_name: "Riley <& Jo>" },
      });
      await sim("/_sim/config", {
        body: {
          provider: "resend",
          api_key: apiKey,
          webhook: {
            url: `${gatewayUrl}/functions/v1/webhook-resend?supplier=${s.supplierId}`,
            secret: webhookSecret,
            events: ["email.sent", "email.delivered"],
          },
        },
      });
      const instanceId = await startJourney(sql, s.supplierId, s.journeyId, s.clientId);
      const run = await waitFor("the run dead", async () => {
        const [r] = await sql<{ id: string; status: string }[]>`
          select id::text, status::text from public.module_runs where journey_instance_id = ${instanceId}::uuid`;
        return r?.status === "dead" ? r : undefined;
      });

      const { serviceRoleKey, anonKey } = await localKeys();
      const context = await browser.newContext({
        extraHTTPHeaders: { authorization: `Bearer ${serviceRoleKey}` },
        viewport: { width: 1280, height: 900 },
      });
      const page = await context.newPage();
      const first = await page.goto(`${CONSOLE}?client=${s.clientId}`);
      assert.equal(first?.status(), 200);
      assert.equal(await page.locator("h1").textContent(), "Operator console");

      // Counts: the runs table agrees with the database.
      const [{ n: deadEmail }] = await sql<{ n: number }[]>`
        select count(*)::int as n from public.module_runs where module_type = 'email' and status = 'dead'`;
      const headers = await page.locator("#runs thead th").allTextContents();
      const emailRow = await page.locator("#runs tbody tr", { hasText: "email" }).first().locator("td")
        .allTextContents();
      assert.equal(Number(emailRow[headers.indexOf("dead")]), deadEmail);
      assert.ok(await page.locator(`#stuck button[data-run="${run.id}"]`).isVisible());
      // The timeline shows the dead run's reason.
      assert.equal(await page.locator("#timeline td", { hasText: "missing_merge_tags" }).count(), 1);

      // Fix the data, then re-drive through the button: the page reloads and the run succeeds.
      await sql`update public.clients set wedding_date = '2027-09-18' where id = ${s.clientId}::uuid`;
      await Promise.all([
        page.waitForURL(/redriven=/),
        page.locator(`#stuck button[data-run="${run.id}"]`).click(),
      ]);
      assert.match((await page.locator("#flash").textContent()) ?? "", new RegExp(`Run ${run.id} re-driven`));
      await waitFor("the re-driven run delivered", async () => {
        const [r] = await sql<{ status: string }[]>`
          select d.status::text as status from public.deliveries d where d.run_id = ${run.id}::bigint`;
        return r?.status === "delivered" || undefined;
      });
      await page.goto(`${CONSOLE}?client=${s.clientId}`);
      assert.equal(await page.locator(`#stuck button[data-run="${run.id}"]`).count(), 0);
      assert.ok((await page.locator("#timeline td", { hasText: "run_succeeded" }).count()) >= 1);
      assert.ok((await page.locator("#timeline td", { hasText: "delivered" }).count()) >= 1);
      const body = (await page.content()) ?? "";
      assert.ok(!body.includes(apiKey) && !body.includes(webhookSecret) && !body.includes("Hello Riley"));

      await page.screenshot({ path: "docs/operator-console.png", fullPage: true });

      // A demo couple's whole journey: every module's provider, the Resend failure and the Mailgun failover.
      const golden = demo.couples[0];
      await page.goto(`${CONSOLE}?client=${golden.clientId}`);
      const timeline = (await page.locator("#timeline").textContent()) ?? "";
      for (const provider of ["resend", "mailgun", "twilio", "whatsapp", "calendly"]) {
        assert.ok(timeline.includes(provider), `the timeline shows ${provider}`);
      }
      for (const module of ["email", "form", "meeting", "sms", "review", "referral"]) {
        assert.ok(timeline.includes(module), `the timeline shows the ${module} step`);
      }
      assert.ok(
        timeline.includes("503"),
        `the timeline shows Resend's 503 before the failover: ${timeline.slice(0, 500)}`,
      );
      const runsText = (await page.locator("#runs").textContent()) ?? "";
      for (const module of ["form", "meeting", "review", "referral", "sms"]) {
        assert.ok(runsText.includes(module), `runs by module lists ${module}`);
      }

      // Forbidden: the anon key (403), no token (401), a forged form post (403).
      const anon = await browser.newContext({ extraHTTPHeaders: { authorization: `Bearer ${anonKey}` } });
      const refused = await (await anon.newPage()).goto(CONSOLE);
      assert.equal(refused?.status(), 403);
      await anon.close();
      const bare = await browser.newContext();
      const unauth = await (await bare.newPage()).goto(CONSOLE);
      assert.equal(unauth?.status(), 401);
      await bare.close();
      const forged = await fetch(CONSOLE, {
        method: "POST",
        headers: {
          authorization: `Bearer ${serviceRoleKey}`,
          "content-type": "application/x-www-form-urlencoded",
        },
        body: new URLSearchParams({ run_id: run.id, csrf: "0".repeat(64) }),
      });
      assert.equal(forged.status, 403);
      await forged.body?.cancel();
      await context.close();
    } finally {
      await browser.close();
      await sql.end();
    }
  },
});
