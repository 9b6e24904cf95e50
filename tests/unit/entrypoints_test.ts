// Every function entry point type-checks with its whole import graph (shared/ included), so a broken
// import is caught before `supabase functions deploy`.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

Deno.test("deno check passes for every supabase/functions/*/index.ts", async () => {
  const entries: string[] = [];
  for await (const dir of Deno.readDir(`${root}/supabase/functions`)) {
    if (dir.isDirectory) entries.push(`supabase/functions/${dir.name}/index.ts`);
  }
  assert.ok(entries.length >= 3, `found ${entries.length} functions`);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["check", ...entries],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
});
