/** The simulated Twilio Messaging API (Messages.json), its signed status callbacks and inbound SMS webhooks. */
import { countSegments } from "../../shared/providers/sms/segments.ts";
import { signTwilio, type TwilioParams } from "../../shared/webhooks/twilio.ts";
import {
  ControlError,
  type FaultRule,
  optionalNumber,
  optionalString,
  type Provider,
  type ProviderRequest,
  type ProviderResponse,
  type SimState,
} from "./state.ts";
import type { WebhookDispatcher, WebhookSend } from "./webhooks.ts";

const NAME = "twilio";
const E164 = /^\+[1-9][0-9]{6,14}$/;
const ACCOUNT_PATH = /^\/2010-04-01\/Accounts\/([^/]+)\.json$/;
const MESSAGES_PATH = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/;
/** Twilio's Advanced Opt-Out keywords. */
const STOP_WORDS = new Set(["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"]);
const START_WORDS = new Set(["START", "UNSTOP", "YES"]);

/** A simulated account: its Auth Token signs callbacks and checks basic auth. */
type Account = {
  account_sid: string;
  auth_token: string;
  /** Where inbound SMS to the account's numbers are posted. */
  inbound_url: string | null;
  /** Statuses posted to each message's StatusCallback, in order. */
  callback_statuses: string[];
  retry_delays_ms: number[];
};

/** An accepted message, as `GET /_sim/twilio/messages` lists it. */
export type TwilioMessageRecord = {
  sid: string;
  account_sid: string;
  to: string;
  from: string | null;
  messaging_service_sid: string | null;
  body: string;
  media_urls: string[];
  status_callback: string | null;
  /** The `run` query parameter of the status callback, if any. */
  run: string | null;
  num_segments: number;
  encoding: string;
  status: string;
  date_created: string;
};

function hex(n: number): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b.toString(16).padStart(2, "0")).join(
    "",
  );
}

/** A Twilio error answer: `{ code, message, more_info, status }`. */
function fail(
  status: number,
  code: number,
  message: string,
  headers?: Record<string, string>,
): ProviderResponse {
  return {
    status,
    headers,
    body: { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status },
  };
}

function strings(input: unknown, field: string): string[] {
  if (!Array.isArray(input) || input.some((v) => typeof v !== "string")) {
    throw new ControlError(`\`${field}\` must be an array of strings`);
  }
  return input as string[];
}

class TwilioSimulator implements Provider {
  readonly name = NAME;
  #state: SimState;
  #webhooks: WebhookDispatcher;
  #accounts = new Map<string, Account>();
  #messages: TwilioMessageRecord[] = [];
  #bySid = new Map<string, TwilioMessageRecord>();
  /** Numbers that replied STOP (Twilio blocks the pair until START). */
  #optedOut = new Set<string>();
  /** Prefixes outside the account's Messaging Geo Permissions. */
  #geoBlocked: string[] = [];
  #runKeys = new Map<string, number>();
  #accepted = 0;
  #duplicateRunKeys = 0;

  constructor(state: SimState, webhooks: WebhookDispatcher) {
    this.#state = state;
    this.#webhooks = webhooks;
  }

  handle(req: ProviderRequest): Promise<ProviderResponse> {
    const fetched = ACCOUNT_PATH.exec(req.path);
    if (fetched && req.method === "GET") return Promise.resolve(this.#fetchAccount(req, fetched[1]));
    const m = MESSAGES_PATH.exec(req.path);
    if (!m) return Promise.resolve(fail(404, 20404, "The requested resource was not found"));
    if (req.method !== "POST") return Promise.resolve(fail(405, 20004, "Method not allowed"));
    const account = this.#accounts.get(decodeURIComponent(m[1]));
    const basic = /^Basic\s+(\S+)$/i.exec(req.headers["authorization"] ?? "");
    let user = "";
    let password = "";
    try {
      [user, password] = basic ? atob(basic[1]).split(":") : ["", ""];
    } catch {
      user = "";
    }
    if (!account || user !== account.account_sid || password !== account.auth_token) {
      return Promise.resolve(fail(401, 20003, "Authenticate"));
    }
    return this.#create(req, account);
  }

  /** `GET /2010-04-01/Accounts/{sid}.json`: the Account resource, Basic auth with the SID and Auth Token. */
  #fetchAccount(req: ProviderRequest, rawSid: string): ProviderResponse {
    const sid = decodeURIComponent(rawSid);
    const account = this.#accounts.get(sid);
    const basic = /^Basic\s+(\S+)$/i.exec(req.headers["authorization"] ?? "");
    let user = "";
    let password = "";
    try {
      [user, password] = basic ? atob(basic[1]).split(":") : ["", ""];
    } catch {
      user = "";
    }
    if (!account || user !== account.account_sid || password !== account.auth_token) {
      return fail(401, 20003, "Authenticate");
    }
    const created = new Date(this.#state.now()).toUTCString();
    return {
      status: 200,
      body: {
        sid,
        friendly_name: "Studio account",
        status: "active",
        type: "Full",
        owner_account_sid: sid,
        auth_token: account.auth_token,
        date_created: created,
        date_updated: created,
        uri: `/2010-04-01/Accounts/${sid}.json`,
      },
    };
  }

  async #create(req: ProviderRequest, account: Account): Promise<ProviderResponse> {
    const form = new URLSearchParams(req.rawBody);
    const to = form.get("To");
    const from = form.get("From");
    const service = form.get("MessagingServiceSid");
    const body = form.get("Body") ?? "";
    const media = form.getAll("MediaUrl");
    if (!to) return fail(400, 21604, "A 'To' phone number is required.");
    if (!E164.test(to)) return fail(400, 21211, `Invalid 'To' Phone Number: ${to}`);
    if (!from && !service) return fail(400, 21603, "A 'From' phone number is required.");
    if (body === "" && media.length === 0 && !form.get("ContentSid")) {
      return fail(400, 21602, "Message body is required.");
    }
    if (body.length > 1600) {
      return fail(400, 21617, "The concatenated message body exceeds the 1600 character limit.");
    }
    if (this.#geoBlocked.some((p) => to.startsWith(p))) {
      return fail(
        400,
        21408,
        `Permission to send an SMS has not been enabled for the region indicated by the 'To' number: ${to}`,
      );
    }
    if (this.#optedOut.has(to)) return fail(400, 21610, "Attempt to send to unsubscribed recipient");
    const callback = form.get("StatusCallback");
    let run: string | null = null;
    try {
      run = callback ? new URL(callback).searchParams.get("run") : null;
    } catch {
      return fail(400, 21609, "Invalid StatusCallback URL");
    }
    await req.processing();
    const segments = countSegments(body);
    const message: TwilioMessageRecord = {
      sid: `SM${hex(16)}`,
      account_sid: account.account_sid,
      to,
      from,
      messaging_service_sid: service,
      body,
      media_urls: media,
      status_callback: callback,
      run,
      num_segments: segments.segments,
      encoding: segments.encoding,
      status: service ? "accepted" : "queued",
      date_created: new Date(this.#state.now()).toUTCString(),
    };
    this.#messages.push(message);
    this.#bySid.set(message.sid, message);
    this.#accepted++;
    if (run !== null) {
      const n = (this.#runKeys.get(run) ?? 0) + 1;
      this.#runKeys.set(run, n);
      if (n === 2) this.#duplicateRunKeys++;
    }
    if (callback && account.callback_statuses.length > 0) {
      this.#webhooks.sequence(
        account.callback_statuses.map((s) => () => this.#callback(account, message, s)),
        account.retry_delays_ms,
      );
    }
    return {
      status: 201,
      body: {
        sid: message.sid,
        account_sid: account.account_sid,
        to,
        from,
        messaging_service_sid: service,
        body,
        status: message.status,
        num_segments: String(segments.segments),
        num_media: String(media.length),
        direction: "outbound-api",
        api_version: "2010-04-01",
        price: null,
        price_unit: "USD",
        error_code: null,
        error_message: null,
        date_created: message.date_created,
        date_sent: null,
        date_updated: message.date_created,
        uri: `/2010-04-01/Accounts/${account.account_sid}/Messages/${message.sid}.json`,
        subresource_uris: {
          media: `/2010-04-01/Accounts/${account.account_sid}/Messages/${message.sid}/Media.json`,
        },
      },
    };
  }

  /** A status callback, form-encoded and signed over the exact StatusCallback URL and every parameter. */
  #callback(account: Account, message: TwilioMessageRecord, status: string, errorCode?: string): WebhookSend {
    message.status = status;
    const params: Record<string, string> = {
      AccountSid: account.account_sid,
      ApiVersion: "2010-04-01",
      From: message.from ?? "+15005550006",
      MessageSid: message.sid,
      MessageStatus: status,
      SmsSid: message.sid,
      SmsStatus: status,
      To: message.to,
    };
    if (message.messaging_service_sid) params.MessagingServiceSid = message.messaging_service_sid;
    if (errorCode) params.ErrorCode = errorCode;
    return this.#signed(
      account,
      message.status_callback!,
      params,
      `status.${status}`,
      `${message.sid}:${status}`,
    );
  }

  #signed(account: Account, url: string, params: TwilioParams, type: string, eventId: string): WebhookSend {
    const body = new URLSearchParams(
      Object.entries(params).flatMap(([k, v]) => [v].flat().map((x) => [k, x])),
    );
    return {
      provider: NAME,
      url,
      type,
      eventId,
      body: body.toString(),
      extra: {},
      headers: async () => ({
        "content-type": "application/x-www-form-urlencoded",
        "user-agent": "TwilioProxy/1.1 (provider-simulator)",
        "x-twilio-signature": await signTwilio(account.auth_token, url, params),
      }),
    };
  }

  faultResponse(rule: FaultRule): ProviderResponse {
    const headers: Record<string, string> = {};
    if (rule.retry_after_s !== null) headers["retry-after"] = String(rule.retry_after_s);
    const code = rule.status === 429 ? 20429 : rule.status >= 500 ? 20500 : 20001;
    const message = rule.message ?? (rule.status === 429 ? "Too Many Requests" : "Internal Server Error");
    return fail(rule.status, rule.name ? Number(rule.name) || code : code, message, headers);
  }

  configure(input: Record<string, unknown>): void {
    const sid = optionalString(input, "account_sid");
    if (sid !== undefined) {
      if (!/^AC[0-9a-f]{32}$/.test(sid)) throw new ControlError("`account_sid` must be AC + 32 hex digits");
      const token = optionalString(input, "auth_token");
      if (!token) throw new ControlError("`auth_token` is required with `account_sid`");
      this.#accounts.set(sid, {
        account_sid: sid,
        auth_token: token,
        inbound_url: optionalString(input, "inbound_url") ?? null,
        callback_statuses: input.callback_statuses === undefined
          ? ["sent", "delivered"]
          : strings(input.callback_statuses, "callback_statuses"),
        retry_delays_ms: input.retry_delays_ms === undefined
          ? [1000, 5000]
          : (input.retry_delays_ms as number[]),
      });
    }
    if (input.opted_out !== undefined) {
      for (const n of strings(input.opted_out, "opted_out")) this.#optedOut.add(n);
    }
    if (input.geo_blocked_prefixes !== undefined) {
      this.#geoBlocked = strings(input.geo_blocked_prefixes, "geo_blocked_prefixes");
    }
  }

  describeConfig(): Record<string, unknown> {
    return {
      accounts: [...this.#accounts.values()].map((a) => ({
        ...a,
        auth_token: `${a.auth_token.slice(0, 4)}…`,
      })),
      opted_out: [...this.#optedOut],
      geo_blocked_prefixes: this.#geoBlocked,
    };
  }

  async control(
    method: string,
    path: string,
    query: URLSearchParams,
    body: unknown,
  ): Promise<ProviderResponse | undefined> {
    const input = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
    if (path === "/messages" && method === "GET") {
      const run = query.get("run");
      return { status: 200, body: this.#messages.filter((m) => run === null || m.run === run) };
    }
    const fire = /^\/messages\/([^/]+)\/callbacks$/.exec(path);
    if (fire && method === "POST") {
      const message = this.#bySid.get(decodeURIComponent(fire[1]));
      if (!message) return { status: 404, body: { error: "no such message" } };
      if (!message.status_callback) throw new ControlError("the message has no StatusCallback", 409);
      const statuses = input.statuses === undefined
        ? [optionalString(input, "status") ?? "delivered"]
        : strings(
          input.statuses,
          "statuses",
        );
      const account = this.#accounts.get(message.account_sid)!;
      const answers: (number | null)[] = [];
      const times = optionalNumber(input, "times", 100) ?? 1;
      for (const s of statuses) {
        const send = this.#callback(account, message, s, optionalString(input, "error_code"));
        for (let i = 0; i < times; i++) answers.push(await this.#webhooks.attempt(send, i + 1));
      }
      return { status: 200, body: { statuses: answers } };
    }
    if (path === "/inbound" && method === "POST") return { status: 200, body: await this.#inbound(input) };
    return undefined;
  }

  /** A couple texts the business number: Advanced Opt-Out applies keywords, then the webhook is posted. */
  async #inbound(input: Record<string, unknown>): Promise<Record<string, unknown>> {
    const account = this.#accounts.get(optionalString(input, "account_sid") ?? "");
    if (!account) throw new ControlError("`account_sid` must be a configured account");
    if (!account.inbound_url) throw new ControlError("the account has no `inbound_url`", 409);
    const from = optionalString(input, "from");
    const to = optionalString(input, "to") ?? "+15005550006";
    if (!from || !E164.test(from)) throw new ControlError("`from` must be an E.164 number");
    const text = optionalString(input, "body") ?? "";
    const word = text.trim().toUpperCase();
    const params: Record<string, string> = {
      AccountSid: account.account_sid,
      ApiVersion: "2010-04-01",
      Body: text,
      From: from,
      MessageSid: `SM${hex(16)}`,
      NumMedia: "0",
      NumSegments: String(countSegments(text).segments),
      SmsMessageSid: "",
      SmsStatus: "received",
      To: to,
    };
    params.SmsMessageSid = params.MessageSid;
    if (STOP_WORDS.has(word)) {
      this.#optedOut.add(from);
      params.OptOutType = "STOP";
    } else if (START_WORDS.has(word)) {
      this.#optedOut.delete(from);
      params.OptOutType = "START";
    } else if (word === "HELP" || word === "INFO") {
      params.OptOutType = "HELP";
    }
    const send = this.#signed(account, account.inbound_url, params, "inbound", params.MessageSid);
    const res = await fetch(send.url, { method: "POST", headers: await send.headers(), body: send.body });
    return { message_sid: params.MessageSid, status: res.status, body: await res.text() };
  }

  stats(): Record<string, number> {
    return { accepted: this.#accepted, duplicate_run_keys: this.#duplicateRunKeys };
  }

  reset(): void {
    this.#accounts.clear();
    this.#messages = [];
    this.#bySid.clear();
    this.#optedOut.clear();
    this.#geoBlocked = [];
    this.#runKeys.clear();
    this.#accepted = 0;
    this.#duplicateRunKeys = 0;
  }
}

/** Creates the simulated Twilio, served under `/twilio` (clients use `<simulator>/twilio` as base URL). */
export function createTwilioProvider(state: SimState, webhooks: WebhookDispatcher): Provider {
  return new TwilioSimulator(state, webhooks);
}
