// The info module end to end: markdown and HTML content sanitised, stored for the couple's dashboard
// with priority and dismissible flags, and emailed; dashboard-only content for a couple without email.
import assert from "node:assert/strict";
import { emailsFor, moduleScenario, waitForRun } from "../helpers/modules.ts";
import { stackDb } from "../helpers/stack.ts";

type Notice = { title: string; body_html: string; body_text: string; priority: string; dismissible: boolean };

Deno.test("module-info emails sanitised markdown and stores it for the dashboard with its priority", async () => {
  const sql = stackDb();
  try {
    const s = await moduleScenario(sql, [{
      module_type: "info",
      config: {
        title: "Your timeline, {{couple_name}}",
        content: {
          format: "markdown",
          body: "## On the day\n\nWe arrive at **{{venue}}** at 10:00.\n\n<script>alert(1)</script>\n\n" +
            "[Map](https://maps.example/barn) and [bad](javascript:alert(1))",
        },
        priority: "high",
        dismissible: false,
      },
    }], [{ couple_name: "Ana & <Bo>" }]);
    const run = await waitForRun(sql, await s.start(), s.stepIds[0], "sent", (r) => r.status === "succeeded");
    const [notice] = await sql<Notice[]>`
      select title, body_html, body_text, priority, dismissible from public.client_notices where run_id = ${run.id}`;
    assert.equal(notice.title, "Your timeline, Ana & <Bo>");
    assert.equal(notice.priority, "high");
    assert.equal(notice.dismissible, false);
    assert.match(notice.body_html, /<h2>On the day<\/h2>/);
    assert.match(notice.body_html, /<strong>The Old Barn<\/strong>/);
    assert.match(
      notice.body_html,
      /<a href="https:\/\/maps\.example\/barn" rel="noopener noreferrer" target="_blank">Map<\/a>/,
    );
    assert.doesNotMatch(notice.body_html, /<script|href="javascript:/);
    assert.match(notice.body_text, /We arrive at The Old Barn at 10:00\./);

    const [email] = await emailsFor(run.id);
    assert.equal(email.subject, "Your timeline, Ana & <Bo>");
    assert.match(email.html, /<h2>Your timeline, Ana &amp; &lt;Bo&gt;<\/h2>/);
    assert.doesNotMatch(email.html, /<script|href="javascript:/);
    assert.equal(run.provider_message_id, email.id);
  } finally {
    await sql.end();
  }
});

Deno.test("module-info stores sanitised HTML on the dashboard only, even for a couple without email", async () => {
  const sql = stackDb();
  try {
    const s = await moduleScenario(sql, [{
      module_type: "info",
      config: {
        title: "Parking",
        content: {
          format: "html",
          body:
            '<p onclick="steal()">Park by the <b>barn</b><img src="x" onerror="y()"></p><iframe src="https://evil.example"></iframe>',
        },
        display_in: ["dashboard"],
      },
    }], [{ email: null }]);
    const run = await waitForRun(sql, await s.start(), s.stepIds[0], "done", (r) => r.status === "succeeded");
    const [notice] = await sql<Notice[]>`
      select title, body_html, body_text, priority, dismissible from public.client_notices where run_id = ${run.id}`;
    assert.equal(notice.body_html, "<p>Park by the <b>barn</b></p>");
    assert.equal(notice.body_text, "Park by the barn");
    assert.equal(notice.priority, "normal");
    assert.equal(notice.dismissible, true);
    assert.equal((await emailsFor(run.id)).length, 0);
  } finally {
    await sql.end();
  }
});
