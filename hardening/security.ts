// `npm run security`: every signature scheme under every single-bit tampering, the running receivers
// under misconfigured secrets, and the secret hygiene scan over whatever ran on the stack before it.
// Writes hardening/results/security.json and the README `security` block.
import { daemonPid } from "../stack/cli.ts";
import { stackDb } from "../tests/helpers/stack.ts";
import { publishReadmeBlock } from "../scripts/readme_block.ts";
import { checkReceivers } from "./security_receivers.ts";
import { checkScheme, SCHEMES } from "./security_schemes.ts";
import { scanHygiene } from "./security_hygiene.ts";
import { checkUserEndpoints } from "./security_users.ts";

if ((await daemonPid()) === undefined) {
  console.error("The local stack is not running: start it (npm run stack -- up) and run suites first.");
  Deno.exit(2);
}

const started = new Date();
const schemes = [];
for (const scheme of SCHEMES) {
  const report = await checkScheme(scheme, Date.now(), 1);
  schemes.push(report);
  console.log(`${scheme.name}: ${report.tampered} tamperings, ${report.failures.length} failures`);
}

const sql = stackDb();
let receivers, users, hygiene;
try {
  receivers = await checkReceivers(sql);
  users = await checkUserEndpoints(sql);
  hygiene = await scanHygiene(sql);
} finally {
  await sql.end();
}
const refused = receivers.filter((c) => c.status === 401 || c.status === 403);
const wrote = receivers.filter((c) => c.wrote !== 0);
const usersRefused = users.filter((c) => c.status === 401 || c.status === 403);
const usersChanged = users.filter((c) => c.changed);
const failures = schemes.reduce((n, s) => n + s.failures.length, 0) +
  (receivers.length - refused.length) + wrote.length + (users.length - usersRefused.length) +
  usersChanged.length + hygiene.secret_hits.length +
  hygiene.personal_hits.length;

const results = {
  started_at: started.toISOString(),
  finished_at: new Date().toISOString(),
  failures,
  schemes,
  receivers: {
    requests: receivers.length,
    refused: refused.length,
    wrote_rows: wrote.length,
    statuses: Object.fromEntries(
      [...new Set(receivers.map((c) => c.status))].map((
        s,
      ) => [s, receivers.filter((c) => c.status === s).length]),
    ),
    not_refused: receivers.filter((c) => c.status !== 401 && c.status !== 403),
  },
  user_endpoints: {
    requests: users.length,
    refused: usersRefused.length,
    changed: usersChanged.length,
    not_refused: users.filter((c) => c.status !== 401 && c.status !== 403),
  },
  hygiene,
};
await Deno.mkdir("hardening/results", { recursive: true });
await Deno.writeTextFile("hardening/results/security.json", JSON.stringify(results, null, 2) + "\n");

const n = (x: number) => x.toLocaleString("en-GB");
const rows = schemes.map((s) =>
  `| ${s.scheme} | ${s.vectors} | ${s.fresh_accepted ? "yes" : "**no**"} | ${
    n(s.tampered)
  } | ${s.stale_future} | ${s.wrong_secret + s.bad_secrets} | ${s.failures.length} |`
);
const markdown = `
Latest full run (${started.toISOString().slice(0, 10)}, [how it works](docs/hardening-security.md)):
**${failures} failures**.

| Scheme | Vectors | Fresh accepted | Single-bit tamperings refused | Stale/future refused | Wrong secrets refused | Failures |
|---|---:|:-:|---:|---:|---:|---:|
${rows.join("\n")}

| Misconfigured receivers | |
|---|---:|
| Requests (${new Set(receivers.map((c) => c.fn)).size} receivers × ${
  new Set(receivers.map((c) => c.config)).size
} secret set-ups × unsigned/forged) | ${receivers.length} |
| Refused with 401/403 | ${refused.length} |
| Requests that wrote a row | ${wrote.length} |

| Vendor app endpoints without a signed-in user | |
|---|---:|
| Requests (${new Set(users.map((c) => c.fn)).size} endpoints × ${
  new Set(users.map((c) => c.credential)).size
} credentials: none, other secret, expired, anon, service_role) | ${users.length} |
| Refused with 401/403 | ${usersRefused.length} |
| Requests that changed the vendor's journeys | ${usersChanged.length} |

| Secret hygiene scan | |
|---|---:|
| Canaries (Vault credentials) | ${n(hygiene.canaries)} |
| Personal values looked for in logs | ${n(hygiene.personal_values)} |
| Tables / text columns scanned | ${hygiene.tables} / ${hygiene.columns} |
| Rows scanned | ${n(hygiene.rows)} |
| Log files / bytes scanned | ${hygiene.log_files} / ${n(hygiene.log_bytes)} |
| Function responses scanned | ${n(hygiene.responses)} |
| Canary hits | ${hygiene.secret_hits.length} |
| Personal data hits in logs | ${hygiene.personal_hits.length} |
`;
await publishReadmeBlock("README.md", "security", markdown);
// Keep the README as `deno fmt` writes it (aligned tables), so the formatting check stays clean.
await new Deno.Command(Deno.execPath(), { args: ["fmt", "--quiet", "README.md"] }).output();
console.log(markdown);
if (failures > 0) {
  console.error(
    JSON.stringify({ schemes: schemes.filter((s) => s.failures.length), results }, null, 2).slice(0, 5000),
  );
}
Deno.exit(failures === 0 ? 0 : 1);
