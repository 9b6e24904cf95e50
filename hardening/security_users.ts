// The vendor app's endpoints (Supabase user JWT) against credentials that are not a signed-in user's: no
// token, a token signed with another secret, an expired one, the anon and the service_role API keys. Each
// request carries a body that would change (or read) the fixture vendor's journeys or integrations if it
// were accepted; it must be refused with 401/403 and change nothing.
import { SignJWT } from "jose";
import { gatewayUrl, jwtSecret } from "../stack/config.ts";
import { localKeys, signLocalKey } from "../stack/keys.ts";
import type { Sql } from "../tests/helpers/db.ts";
import { emailScenario, startJourney } from "../tests/helpers/fixtures.ts";
import { supplierRows } from "./security_receivers.ts";

/** The fixture a body may name. */
type Fixture = {
  supplierId: string;
  journeyId: string;
  stepId: string;
  clientId: string;
  instanceId: string;
};

/** A user-JWT endpoint and a body it would act on. */
type UserEndpoint = { fn: string; body: (f: Fixture) => unknown; query?: (f: Fixture) => string };

/** Every endpoint of the vendor's app that acts for a signed-in user on the supplier's journeys. */
export const USER_ENDPOINTS: UserEndpoint[] = [
  {
    fn: "journey-steps",
    body: (f) => ({
      journey_id: f.journeyId,
      position: 9,
      module_type: "email",
      config: { template: "welcome" },
    }),
  },
  { fn: "journeys", body: (f) => ({ action: "cancel_booking", client_id: f.clientId }) },
  { fn: "journeys", body: (f) => ({ action: "pause", instance_id: f.instanceId }) },
  { fn: "journeys", body: (f) => ({ action: "delete_step", step_id: f.stepId }) },
  {
    fn: "integrations",
    body: (f) => ({ action: "disconnect", supplier_id: f.supplierId, provider: "resend" }),
  },
  { fn: "activity", body: (f) => ({ client_id: f.clientId }) },
  { fn: "email-preview", body: (f) => ({ client_id: f.clientId, step_id: f.stepId }) },
  { fn: "email-validate", body: () => ({ module_type: "email", config: { template: "welcome" } }) },
];

/** The credentials tried, none of them a signed-in user's (or not validly signed). */
export const NOT_A_USER: { what: string; token: () => Promise<string | null> }[] = [
  { what: "no token", token: () => Promise.resolve(null) },
  {
    what: "user token signed with another secret",
    token: () => userToken("another-secret-of-at-least-32-characters!!", "10m"),
  },
  { what: "expired user token", token: () => userToken(jwtSecret, Math.floor(Date.now() / 1000) - 60) },
  { what: "anon key", token: async () => (await localKeys()).anonKey },
  { what: "service_role key", token: () => signLocalKey("service_role") },
];

function userToken(secret: string, exp: string | number): Promise<string> {
  return new SignJWT({ sub: crypto.randomUUID(), role: "authenticated", aud: "authenticated" })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt(Math.floor(Date.now() / 1000) - 120)
    .setExpirationTime(exp)
    .sign(new TextEncoder().encode(secret));
}

/** One refused (or wrongly accepted) request. */
export type UserCase = { fn: string; credential: string; status: number; changed: boolean };

async function fingerprint(sql: Sql, supplier: string): Promise<string> {
  const [row] = await sql<{ f: string }[]>`
    select md5(concat_ws('|',
      (select string_agg(concat_ws(',', id, status, current_step_id), ';' order by id)
        from public.journey_instances where supplier_id = ${supplier}::uuid),
      (select string_agg(concat_ws(',', id, status, run_at, last_error), ';' order by id)
        from public.module_runs where supplier_id = ${supplier}::uuid),
      (select string_agg(concat_ws(',', id, position, config, timing), ';' order by id)
        from public.journey_steps where supplier_id = ${supplier}::uuid),
      (select string_agg(concat_ws(',', id, provider, status, secret_id), ';' order by id)
        from public.supplier_integrations where supplier_id = ${supplier}::uuid))) as f`;
  return `${row.f}:${await supplierRows(sql, supplier)}`;
}

/** Sends every endpoint × credential; returns each answer and whether the vendor's state changed. */
export async function checkUserEndpoints(sql: Sql): Promise<UserCase[]> {
  const s = await emailScenario(sql, { steps: [{ timing: { offset_days: 1 } }] });
  const instanceId = await startJourney(sql, s.supplierId, s.journeyId, s.clientId);
  const fixture = {
    supplierId: s.supplierId,
    journeyId: s.journeyId,
    stepId: s.stepIds[0],
    clientId: s.clientId,
    instanceId,
  };
  const cases: UserCase[] = [];
  for (const e of USER_ENDPOINTS) {
    for (const c of NOT_A_USER) {
      const before = await fingerprint(sql, s.supplierId);
      const token = await c.token();
      const res = await fetch(`${gatewayUrl}/functions/v1/${e.fn}${e.query ? `?${e.query(fixture)}` : ""}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify(e.body(fixture)),
      });
      await res.body?.cancel();
      cases.push({
        fn: e.fn,
        credential: c.what,
        status: res.status,
        changed: (await fingerprint(sql, s.supplierId)) !== before,
      });
    }
  }
  return cases;
}
