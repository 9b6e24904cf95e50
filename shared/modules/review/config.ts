// The review step's configuration, as the journey builder writes it (validated on write and on run).
import { z } from "zod";

const localTime = z.string().regex(/^([01][0-9]|2[0-3]):[0-5][0-9]$/, "must be HH:MM (24 h)");

/** The review platforms a vendor can configure (public.review_platforms). */
export const REVIEW_PLATFORMS = ["google", "facebook", "weddingwire", "theknot"] as const;
/** One review platform. */
export type ReviewPlatform = typeof REVIEW_PLATFORMS[number];

/** Config of a `review` journey step. */
export const reviewStepConfig = z.strictObject({
  /** Days after the wedding (in the couple's zone) the request goes out. */
  days_after_wedding: z.number().int().min(1).max(365).default(10),
  /** Local time of day it goes out. */
  send_at: localTime.default("10:00"),
  /** Platforms to ask for, in order; default: every platform the vendor configured. */
  platforms: z.array(z.enum(REVIEW_PLATFORMS)).min(1).max(4).optional(),
  subject: z.string().min(1).max(200).default("How was your wedding, {{couple_name}}?"),
  message: z.string().min(1).max(5000).default(
    "Hi {{couple_name}},\n\nIt was a joy to be part of your day. Would you share a few words about it?",
  ),
  /** The vendor's page where the couple gives a star rating (it posts to the rating endpoint). */
  rating_url: z.url({ protocol: /^https?$/ }).max(2000).optional(),
  /** A thank-you offer shown under the links, e.g. "a free print of your favourite photo". */
  incentive: z.string().min(1).max(500).optional(),
  /** A second email when no link was clicked (and no rating given) after `after_days`. */
  follow_up: z.strictObject({
    after_days: z.number().int().min(1).max(60),
    subject: z.string().min(1).max(200).default("A quick favour, {{couple_name}}?"),
    message: z.string().min(1).max(5000).default(
      "Hi {{couple_name}},\n\nIf you have a minute, a review would mean a lot to us.",
    ),
  }).optional(),
  link_ttl_days: z.number().int().min(1).max(730).default(180),
});

/** A parsed review step config. */
export type ReviewStepConfig = z.output<typeof reviewStepConfig>;

/** Labels of the platforms in messages. */
export const PLATFORM_LABELS: Record<ReviewPlatform, string> = {
  google: "Review us on Google",
  facebook: "Recommend us on Facebook",
  weddingwire: "Review us on WeddingWire",
  theknot: "Review us on The Knot",
};

/**
 * The review page of a vendor's platform: Google's is generated from the place id (the others are
 * pasted by the vendor and used as they are).
 */
export function platformUrl(p: { platform: string; place_id: string | null; url: string | null }): string {
  if (p.platform === "google") {
    return `https://search.google.com/local/writereview?placeid=${encodeURIComponent(p.place_id ?? "")}`;
  }
  return p.url ?? "";
}
