// Tells people's clicks from link scanners and prefetches, which must not count as clicks.

/** User agents of mail security scanners, link-preview fetchers, crawlers and HTTP libraries. */
const SCANNER_AGENTS = new RegExp(
  [
    "bot\\b",
    "crawler",
    "spider",
    "preview",
    "scanner",
    "barracuda",
    "mimecast",
    "proofpoint",
    "urldefense",
    "safelinks",
    "microsoft office",
    "ms-office",
    "outlook-ios",
    "facebookexternalhit",
    "slackbot",
    "whatsapp",
    "telegrambot",
    "discordbot",
    "skypeuripreview",
    "headlesschrome",
    "phantomjs",
    "python-requests",
    "python-urllib",
    "aiohttp",
    "curl/",
    "wget",
    "go-http-client",
    "okhttp",
    "apache-httpclient",
    "java/",
    "libwww-perl",
    "symantec",
    "trendmicro",
    "forcepoint",
    "zscaler",
    "fireeye",
    "sophos",
    "cisco",
    "ironport",
  ].join("|"),
  "i",
);

/** Why a request is not a person's click, or null when it is one. */
export function scannerReason(req: Request): string | null {
  if (req.method === "HEAD") return "head request";
  const purpose = [req.headers.get("sec-purpose"), req.headers.get("purpose"), req.headers.get("x-purpose")]
    .filter(Boolean).join(" ").toLowerCase();
  if (/prefetch|prerender|preview/.test(purpose) || req.headers.get("x-moz") === "prefetch") {
    return "prefetch";
  }
  const agent = req.headers.get("user-agent") ?? "";
  if (agent.trim() === "") return "no user agent";
  if (SCANNER_AGENTS.test(agent)) return "scanner user agent";
  return null;
}
