// Twilio's X-Twilio-Signature scheme: HMAC-SHA1 with the account's Auth Token over the URL Twilio called
// plus the sorted POST parameters (or, for JSON bodies, the URL carrying bodySHA256).
import { constantTimeEqualText, hmac, sha256, toBase64, toHex } from "./hmac.ts";

/** POST parameters: a value per key, or several for a repeated key. */
export type TwilioParams = Record<string, string | string[]>;

/** Reads a form body into parameters, keeping every value of a repeated key. */
export function formParams(body: URLSearchParams): TwilioParams {
  const out: TwilioParams = {};
  for (const [key, value] of body) {
    const prev = out[key];
    out[key] = prev === undefined ? value : [...[prev].flat(), value];
  }
  return out;
}

/** The string Twilio signs: the URL, then key+value for each parameter sorted by key (values of a key deduplicated and sorted). */
function signedData(url: string, params: TwilioParams): string {
  let data = url;
  for (const key of Object.keys(params).sort()) {
    const value = params[key];
    const values = Array.isArray(value) ? [...new Set(value)].sort() : [value];
    for (const v of values) data += key + v;
  }
  return data;
}

/**
 * Computes `X-Twilio-Signature` for a request: base64 HMAC-SHA1 with `authToken` over `url` and `params`.
 * @param url the exact URL Twilio calls (scheme, credentials, port and query string as given).
 */
export async function signTwilio(authToken: string, url: string, params: TwilioParams = {}): Promise<string> {
  return toBase64(await hmac("SHA-1", authToken, signedData(url, params)));
}

/** `url` with its default port written out, or without any port; WHATWG-serialised (so `'` becomes `%27`). */
function portVariants(url: string): string[] {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return [];
  }
  const credentials = u.username ? `${u.username}${u.password ? `:${u.password}` : ""}@` : "";
  const defaultPort = u.protocol === "https:" ? "443" : u.protocol === "http:" ? "80" : "";
  const base = (port: string) =>
    `${u.protocol}//${credentials}${u.hostname}${port ? `:${port}` : ""}${u.pathname}${u.search}${u.hash}`;
  return [base(u.port || defaultPort), base("")];
}

/** Options of {@link verifyTwilio}. */
export type VerifyTwilioOptions = {
  /** The account's primary Auth Token (an API key secret cannot verify webhooks). */
  authToken: string;
  /** The `X-Twilio-Signature` header. */
  signature: string | null;
  /** The public URL Twilio called, built from configuration (not the URL the function saw). */
  url: string;
  /** Form parameters of a form POST; omit for JSON bodies and GET requests. */
  params?: TwilioParams;
  /** The raw body of an `application/json` request, which the URL's `bodySHA256` must match. */
  jsonBody?: Uint8Array;
};

/**
 * Verifies a Twilio webhook as the official SDK does: the URL as given, with the default port added and
 * with it removed (proxies change these), each with the form parameters; for a JSON body the URL alone
 * is signed and its `bodySHA256` query parameter must be the hex SHA-256 of the body.
 */
export async function verifyTwilio(opts: VerifyTwilioOptions): Promise<boolean> {
  if (!opts.signature || !opts.authToken) return false;
  const params = opts.jsonBody === undefined ? opts.params ?? {} : {};
  const candidates = [...new Set([opts.url, ...portVariants(opts.url)])];
  let matched = false;
  for (const url of candidates) {
    // Every candidate is checked, so timing does not reveal which form matched.
    if (constantTimeEqualText(await signTwilio(opts.authToken, url, params), opts.signature)) matched = true;
  }
  if (!matched || opts.jsonBody === undefined) return matched;
  let bodyHash: string | null = null;
  try {
    bodyHash = new URL(opts.url).searchParams.get("bodySHA256");
  } catch {
    return false;
  }
  return bodyHash !== null && constantTimeEqualText(toHex(await sha256(opts.jsonBody)), bodyHash);
}
