// Unit tests for shared/render/template.ts: merge tags, escaping, missing values and text derivation.
import assert from "node:assert/strict";
import {
  escapeHtml,
  htmlToText,
  mergeTags,
  renderTemplate,
  TemplateError,
} from "../../shared/render/template.ts";

const full = {
  subject: "Your wedding at {{venue}}",
  html: "<p>Dear {{couple_name}},</p><p>See you at {{ venue }} on {{wedding_date}}.</p>",
  text: "Dear {{couple_name}}, see you at {{venue}} on {{wedding_date}}.",
};
const values = { couple_name: "Ann & Bob", venue: "The Barn", wedding_date: "14 June 2027" };

function catchTemplateError(fn: () => unknown): TemplateError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof TemplateError, `expected TemplateError, got ${err}`);
    return err;
  }
  assert.fail("expected a TemplateError");
}

Deno.test("escapeHtml() escapes the five special characters when present", () => {
  assert.equal(
    escapeHtml(`<a href="x">Tom & Jerry's</a>`),
    "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;",
  );
});

Deno.test("escapeHtml() leaves text unchanged when it has nothing to escape", () => {
  assert.equal(escapeHtml("Zoë and Chloé, 14 June"), "Zoë and Chloé, 14 June");
});

Deno.test("escapeHtml() escapes an ampersand once when the value already looks escaped", () => {
  assert.equal(escapeHtml("&amp;"), "&amp;amp;");
});

Deno.test("renderTemplate() substitutes every tag when all values are given", () => {
  assert.deepEqual(renderTemplate(full, values), {
    subject: "Your wedding at The Barn",
    html: "<p>Dear Ann &amp; Bob,</p><p>See you at The Barn on 14 June 2027.</p>",
    text: "Dear Ann & Bob, see you at The Barn on 14 June 2027.",
  });
});

Deno.test("renderTemplate() accepts spaces inside the braces when tags are written {{ name }}", () => {
  const out = renderTemplate({ subject: "{{  venue}}", html: "{{venue  }}|{{\tvenue\t}}" }, values);
  assert.equal(out.subject, "The Barn");
  assert.equal(out.html, "The Barn|The Barn");
});

Deno.test("renderTemplate() escapes a hostile script value in html when the value contains markup", () => {
  const out = renderTemplate(
    { subject: "Hi {{couple_name}}", html: "<p>Hi {{couple_name}}</p>" },
    { couple_name: `<script>alert("x")</script>` },
  );
  assert.equal(out.html, "<p>Hi &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</p>");
  assert.ok(!out.html.includes("<script>"));
  // Subject and text are plain text: the value is kept as typed.
  assert.equal(out.subject, `Hi <script>alert("x")</script>`);
  assert.equal(out.text, `Hi <script>alert("x")</script>`);
});

Deno.test("renderTemplate() keeps a value inside its attribute when it contains quotes", () => {
  const template = {
    subject: "s",
    html: `<a href="https://example.com/r/{{slug}}" title='{{title}}'>Review</a>`,
  };
  const out = renderTemplate(template, { slug: `x" onclick="steal()`, title: `it's' onmouseover='x` });
  assert.equal(
    out.html,
    `<a href="https://example.com/r/x&quot; onclick=&quot;steal()" title='it&#39;s&#39; onmouseover=&#39;x'>Review</a>`,
  );
});

Deno.test("renderTemplate() escapes ampersands in html but not in text when the value has them", () => {
  const out = renderTemplate({ subject: "{{v}}", html: "<b>{{v}}</b>", text: "{{v}}" }, { v: "A&B &amp; C" });
  assert.equal(out.html, "<b>A&amp;B &amp;amp; C</b>");
  assert.equal(out.text, "A&B &amp; C");
  assert.equal(out.subject, "A&B &amp; C");
});

Deno.test("renderTemplate() keeps the template's own HTML when it contains markup and entities", () => {
  const out = renderTemplate({ subject: "s", html: `<p style="color:red">Caf&eacute; &amp; {{v}}</p>` }, {
    v: "<i>",
  });
  assert.equal(out.html, `<p style="color:red">Caf&eacute; &amp; &lt;i&gt;</p>`);
});

Deno.test("renderTemplate() throws TemplateError naming all missing tags, sorted and unique, when values are absent", () => {
  const err = catchTemplateError(() =>
    renderTemplate(
      {
        subject: "{{venue}} {{couple_name}}",
        html: "{{venue}} {{zeta}} {{alpha}}",
        text: "{{couple_name}} {{beta}}",
      },
      { couple_name: null, venue: undefined, zeta: "", beta: "ok" },
      "welcome",
    )
  );
  assert.deepEqual(err.missing, ["alpha", "couple_name", "venue", "zeta"]);
  assert.equal(
    err.message,
    'Cannot render template "welcome": missing merge tags alpha, couple_name, venue, zeta',
  );
  assert.equal(err.name, "TemplateError");
});

Deno.test("renderTemplate() names a missing tag when it appears only in the subject", () => {
  const err = catchTemplateError(() => renderTemplate({ subject: "{{first_name}}", html: "<p>x</p>" }, {}));
  assert.deepEqual(err.missing, ["first_name"]);
});

Deno.test("renderTemplate() treats a tag as missing when its name exists only on Object.prototype", () => {
  const err = catchTemplateError(() =>
    renderTemplate({ subject: "{{constructor}}", html: "{{ constructor }} {{__proto__}}" }, {})
  );
  // `__proto__` starts with `_`, so it is not a tag at all.
  assert.deepEqual(err.missing, ["constructor"]);
});

Deno.test("renderTemplate() renders a value that is only whitespace when it is not empty", () => {
  assert.equal(renderTemplate({ subject: "a{{v}}b", html: "a{{v}}b" }, { v: " " }).html, "a b");
});

Deno.test("renderTemplate() throws TypeError when a value is not a string", () => {
  assert.throws(
    () => renderTemplate({ subject: "{{n}}", html: "" }, { n: 3 as unknown as string }),
    TypeError,
  );
});

Deno.test("renderTemplate() does not re-expand tags when a value contains {{other}}", () => {
  const out = renderTemplate(
    { subject: "{{a}}", html: "<p>{{a}}</p>", text: "{{a}}" },
    { a: "{{b}}", b: "SECRET" },
  );
  assert.equal(out.subject, "{{b}}");
  assert.equal(out.html, "<p>{{b}}</p>");
  assert.equal(out.text, "{{b}}");
});

Deno.test("renderTemplate() does not require values for tags that only appear inside a value", () => {
  const out = renderTemplate({ subject: "{{a}}", html: "{{a}}" }, { a: "{{undefined_tag}}" });
  assert.equal(out.html, "{{undefined_tag}}");
});

Deno.test("renderTemplate() substitutes only the inner tag when braces look nested", () => {
  const out = renderTemplate(
    { subject: "{{{v}}}", html: "{{{v}}} {{ {{v}} }} {{{{v}}}}" },
    { v: "<b>" },
  );
  // No triple-brace "raw" syntax: the value is still escaped, the extra braces stay literal.
  assert.equal(out.html, "{&lt;b&gt;} {{ &lt;b&gt; }} {{&lt;b&gt;}}");
  assert.equal(out.subject, "{<b>}");
});

Deno.test("renderTemplate() leaves text alone when it is not a valid tag", () => {
  const template = { subject: "{{}} {{ }} {single} {{1st}} {{Name}} {{_x}}", html: "{{a-b}}" };
  assert.deepEqual(mergeTags(template), []);
  assert.deepEqual(renderTemplate(template, {}), {
    subject: "{{}} {{ }} {single} {{1st}} {{Name}} {{_x}}",
    html: "{{a-b}}",
    text: "{{a-b}}",
  });
});

Deno.test("renderTemplate() supports dotted names when tags read nested fields", () => {
  const out = renderTemplate({ subject: "{{couple.first_name}}", html: "{{ venue.city2 }}" }, {
    "couple.first_name": "Ann",
    "venue.city2": "Bath",
  });
  assert.equal(out.subject, "Ann");
  assert.equal(out.html, "Bath");
});

Deno.test("renderTemplate() strips CR and LF from the subject when a value tries header injection", () => {
  const out = renderTemplate(
    { subject: "Hello {{name}}", html: "<p>{{name}}</p>" },
    { name: "Ann\r\nBcc: victim@example.com\nX: y\r" },
  );
  assert.equal(out.subject, "Hello Ann Bcc: victim@example.com X: y");
  assert.ok(!/[\r\n]/.test(out.subject));
});

Deno.test("renderTemplate() strips CR and LF from the subject when the template itself has them", () => {
  assert.equal(
    renderTemplate({ subject: "Line one\r\n  line two\n", html: "" }, {}).subject,
    "Line one line two",
  );
});

Deno.test("renderTemplate() keeps line breaks in text when values contain them", () => {
  const out = renderTemplate({ subject: "s", html: "h", text: "Address:\n{{address}}" }, {
    address: "1 Lane\nBath",
  });
  assert.equal(out.text, "Address:\n1 Lane\nBath");
});

Deno.test("renderTemplate() derives text from the rendered html when text is absent, null or blank", () => {
  const html = "<h1>Hi {{couple_name}}</h1><p>Venue: {{venue}}<br>Date: {{wedding_date}}</p>";
  const expected = "Hi Ann & Bob\n\nVenue: The Barn\nDate: 14 June 2027";
  assert.equal(renderTemplate({ subject: "s", html }, values).text, expected);
  assert.equal(renderTemplate({ subject: "s", html, text: null }, values).text, expected);
  assert.equal(renderTemplate({ subject: "s", html, text: "  " }, values).text, expected);
});

Deno.test("renderTemplate() derives text without markup when a value contains markup", () => {
  const out = renderTemplate({ subject: "s", html: "<p>{{v}}</p>" }, { v: "<b>bold</b> & 'q'" });
  assert.equal(out.text, "<b>bold</b> & 'q'");
});

Deno.test("mergeTags() lists the tags of subject, html and text, sorted and unique, when a template uses them", () => {
  assert.deepEqual(mergeTags(full), ["couple_name", "venue", "wedding_date"]);
  assert.deepEqual(mergeTags({ subject: "{{b}}", html: "{{ a }}{{b}}", text: "{{c.d}}" }), ["a", "b", "c.d"]);
});

Deno.test("mergeTags() returns an empty list when the template has no tags", () => {
  assert.deepEqual(mergeTags({ subject: "Hello", html: "<p>Hi</p>" }), []);
});

Deno.test("mergeTags() throws TypeError when the template is malformed", () => {
  assert.throws(() => mergeTags(null as unknown as { subject: string; html: string }), TypeError);
  assert.throws(() => mergeTags({ subject: "s" } as unknown as { subject: string; html: string }), TypeError);
});

Deno.test("htmlToText() turns br and paragraph ends into newlines when converting", () => {
  assert.equal(
    htmlToText("<p>One<br>Two<br/>Three<br />Four</p><p>Five</p>"),
    "One\nTwo\nThree\nFour\n\nFive",
  );
});

Deno.test("htmlToText() decodes the basic entities once when they are escaped", () => {
  assert.equal(
    htmlToText("&lt;b&gt; &amp; &quot;x&quot; &#39;y&#39; &apos;z&apos; &amp;lt;"),
    `<b> & "x" 'y' 'z' &lt;`,
  );
});

Deno.test("htmlToText() decodes numeric entities and leaves unknown ones when converting", () => {
  assert.equal(htmlToText("caf&#233; &#x1F492; &bogus; &#0;"), "café 💒 &bogus; &#0;");
});

Deno.test("htmlToText() collapses blank lines and trims when the html has lots of whitespace", () => {
  const html = `
    <div>
      <p>  Hello   there </p>


      <p></p><p></p>
      <p>Bye</p>
    </div>
  `;
  assert.equal(htmlToText(html), "Hello there\n\nBye");
});

Deno.test("htmlToText() drops head, style, script and comments when converting a full document", () => {
  const html = `<html><head><title>T</title><style>p{color:red}</style></head>
    <body><!-- hidden --><script>alert(1)</script><p>Visible</p></body></html>`;
  assert.equal(htmlToText(html), "Visible");
});

Deno.test("htmlToText() drops a whole tag when an attribute value contains >", () => {
  assert.equal(htmlToText(`<a title="a > b" href='x>y'>Link</a>`), "Link");
});

Deno.test("htmlToText() puts list items on their own lines when converting a list", () => {
  assert.equal(htmlToText("<ul><li>One</li><li>Two</li></ul>"), "One\nTwo");
});
