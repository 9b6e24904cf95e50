// Opt-out, opt-in and help keywords in replies, as carriers and Twilio's Advanced Opt-Out read them.

/** What a reply asks for. */
export type KeywordIntent = "opt_out" | "opt_in" | "help";

const KEYWORDS: Record<string, KeywordIntent> = {
  STOP: "opt_out",
  STOPALL: "opt_out",
  UNSUBSCRIBE: "opt_out",
  CANCEL: "opt_out",
  END: "opt_out",
  QUIT: "opt_out",
  START: "opt_in",
  UNSTOP: "opt_in",
  YES: "opt_in",
  HELP: "help",
  INFO: "help",
};

/**
 * The intent of a reply that is exactly one keyword (case, surrounding spaces and trailing punctuation
 * ignored), or null: "stop" and "Stop!" opt out, "please stop calling" does not.
 */
export function keywordIntent(body: string | null | undefined): KeywordIntent | null {
  if (typeof body !== "string") return null;
  const word = body.trim().replace(/[.!?]+$/, "").toUpperCase();
  return Object.hasOwn(KEYWORDS, word) ? KEYWORDS[word] : null;
}
