// Twilio's webhooks for one supplier: status callbacks (statuses never regress, unknown sends reconciled
// by run key) and inbound SMS (STOP/START/HELP), verified with X-Twilio-Signature on the public URL.
import { z } from "zod";
import type { Sql } from "../../db/client.ts";
import { HttpError, json, parseJson, readRawBody, withErrors } from "../../http/errors.ts";
import type { SecretStore } from "../../secrets.ts";
import { formParams, type TwilioParams, verifyTwilio } from "../../webhooks/twilio.ts";
import { connectedIntegration } from "../../integrations.ts";
import { supplierParam } from "./integration.ts";
import { type KeywordIntent, keywordIntent } from "./keywords.ts";

/** Twilio message statuses and the delivery status each means (null: not a delivery status). */
export const TWILIO_STATUS: Record<string, string | null> = {
  accepted: "queued",
  scheduled: "queued",
  queued: "queued",
  sending: "sent",
  sent: "sent",
  delivered: "delivered",
  partially_delivered: "sent",
  read: "opened",
  undelivered: "failed",
  failed: "failed",
  canceled: "failed",
  receiving: null,
  received: null,
};

const e164 = z.string().regex(/^\+[1-9][0-9]{6,14}$/, "must be an E.164 number");
const sid = z.string().regex(/^[A-Z]{2}[0-9a-f]{32}$/, "must be a Twilio SID");
/** Request schema, exported for the fuzz suite's generators. */
export const status = z.object({
  MessageSid: sid,
  MessageStatus: z.string().min(1).max(40),
  AccountSid: sid,
  To: z.string().max(100).optional(),
  ErrorCode: z.string().regex(/^[0-9]{1,6}$/).optional(),
});
/** Request schema, exported for the fuzz suite's generators. */
export const inbound = z.object({
  MessageSid: sid,
  AccountSid: sid,
  From: e164,
  To: z.string().max(100),
  Body: z.string().max(1600).default(""),
  OptOutType: z.enum(["STOP", "START", "HELP"]).optional(),
});

/** What the receiver needs. */
export type TwilioWebhookDeps = {
  sql: Sql;
  secrets: SecretStore;
  /** Public base of the functions: Twilio signs the URL it called, rebuilt from this. */
  publicFunctionsUrl: string;
  log?: (line: string) => void;
};

const OPT_OUT_TYPE: Record<string, KeywordIntent> = { STOP: "opt_out", START: "opt_in", HELP: "help" };

function one(params: TwilioParams): Record<string, string> {
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, Array.isArray(v) ? v[0] : v]));
}

function invalid(what: string, error: z.ZodError): HttpError {
  const why = error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
  return new HttpError(400, "invalid_event", `Not a Twilio ${what}: ${why}`);
}

function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** TwiML: an empty answer, or one reply message. */
function twiml(reply?: string): Response {
  const body = reply
    ? `<?xml version="1.0" encoding="UTF-8"?><Response><Message>${escapeXml(reply)}</Message></Response>`
    : `<?xml version="1.0" encoding="UTF-8"?><Response/>`;
  return new Response(body, { headers: { "content-type": "text/xml; charset=utf-8" } });
}

/**
 * Handles `POST /webhook-twilio?supplier=<uuid>[&run=<run key>]`: the URL a supplier registers on its
 * number or Messaging Service for inbound SMS, and the status callback of each message the sms module
 * sends. Signed with the supplier's Auth Token; without one nothing is accepted.
 */
export function twilioWebhookHandler(deps: TwilioWebhookDeps): (req: Request) => Promise<Response> {
  return withErrors(async (req) => {
    if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "Use POST");
    const query = new URL(req.url).searchParams;
    const supplierId = supplierParam(query);
    const raw = await readRawBody(req);
    const { settings, secret } = (await connectedIntegration(deps.sql, deps.secrets, supplierId, "twilio")) ??
      { settings: {}, secret: {} };
    const authToken = typeof secret.auth_token === "string" ? secret.auth_token : "";
    if (!authToken) {
      throw new HttpError(
        401,
        "webhook_not_configured",
        "No Twilio Auth Token is configured for this supplier",
      );
    }
    const url = `${deps.publicFunctionsUrl}/webhook-twilio${new URL(req.url).search}`;
    const isJson = (req.headers.get("content-type") ?? "").includes("application/json");
    let params: TwilioParams;
    if (isJson) {
      const body = parseJson(raw);
      params = typeof body === "object" && body !== null ? body as TwilioParams : {};
    } else {
      params = formParams(new URLSearchParams(new TextDecoder().decode(raw)));
    }
    const verified = await verifyTwilio({
      authToken,
      signature: req.headers.get("x-twilio-signature"),
      url,
      ...(isJson ? { jsonBody: raw } : { params }),
    });
    if (!verified) {
      throw new HttpError(
        401,
        "invalid_signature",
        "Cannot verify webhook: X-Twilio-Signature does not match",
      );
    }
    const fields = one(params);
    if (fields.AccountSid !== undefined && fields.AccountSid !== secret.account_sid) {
      throw new HttpError(403, "foreign_account", "The webhook is for another Twilio account");
    }

    if (fields.MessageStatus !== undefined) {
      const parsed = status.safeParse(fields);
      if (!parsed.success) throw invalid("status callback", parsed.error);
      const e = parsed.data;
      const to = e164.safeParse(e.To).success ? e.To! : null;
      if (e.ErrorCode === "21610" && to) {
        await deps
          .sql`select public.record_messaging_consent(${supplierId}::uuid, 'sms', ${to}, false, now())`;
      }
      // Only what the pipeline needs is stored: ids and codes, no message bodies.
      const payload = { status: e.MessageStatus, error_code: e.ErrorCode ?? null };
      const [row] = await deps.sql<{ result: string }[]>`
        select public.receive_message_status(
          'twilio', ${`${e.MessageSid}:${e.MessageStatus}`}, ${e.MessageStatus}, ${supplierId}::uuid,
          ${e.MessageSid}, ${TWILIO_STATUS[e.MessageStatus] ?? null}::public.delivery_status, now(),
          ${JSON.stringify(payload)}::text::jsonb, ${query.get("run")}, 'sms', ${to}
        ) as result`;
      return json({ received: true, result: row.result });
    }

    const parsed = inbound.safeParse(fields);
    if (!parsed.success) throw invalid("inbound message", parsed.error);
    const m = parsed.data;
    const intent = m.OptOutType ? OPT_OUT_TYPE[m.OptOutType] : keywordIntent(m.Body);
    const [row] = await deps.sql<{ result: string }[]>`
      select public.receive_delivery_event(
        'twilio', ${`inbound:${m.MessageSid}`}, 'inbound', ${supplierId}::uuid, null, null, now(),
        ${JSON.stringify({ intent })}::text::jsonb
      ) as result`;
    if (row.result !== "duplicate") {
      await deps.sql`select public.record_inbound_message(${supplierId}::uuid, 'sms', ${m.From}, now())`;
      if (intent === "opt_out" || intent === "opt_in") {
        await deps.sql`select public.record_messaging_consent(
          ${supplierId}::uuid, 'sms', ${m.From}, ${intent === "opt_in"}, now())`;
      }
    }
    if (intent !== "help") return twiml();
    const [s] = await deps.sql<
      { name: string }[]
    >`select name from public.suppliers where id = ${supplierId}::uuid`;
    const help = typeof settings.help_text === "string" && settings.help_text !== ""
      ? settings.help_text
      : `${
        s?.name ?? "Your wedding supplier"
      }: wedding updates by text. Reply STOP to unsubscribe, START to resubscribe.`;
    return twiml(help);
  }, deps.log);
}
