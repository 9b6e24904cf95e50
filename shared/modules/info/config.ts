// The info step's configuration, as the journey builder writes it (validated on write and on run).
import { z } from "zod";

/** Config of an `info` journey step. */
export const infoStepConfig = z.strictObject({
  title: z.string().min(1).max(200),
  content: z.strictObject({
    /** Plain text, markdown (rendered without raw HTML) or HTML (sanitised against an allowlist). */
    format: z.enum(["text", "markdown", "html"]),
    /** The content; merge tags like {{couple_name}} are filled in. */
    body: z.string().min(1).max(50_000),
  }),
  /** Where the couple sees it: by email, on their dashboard in the vendor's app, or both. */
  display_in: z.array(z.enum(["email", "dashboard"])).min(1).max(2)
    .refine((d) => new Set(d).size === d.length, "must not repeat a place")
    .default(["email", "dashboard"]),
  priority: z.enum(["low", "normal", "high"]).default("normal"),
  /** The couple may dismiss it from their dashboard. */
  dismissible: z.boolean().default(true),
});

/** A parsed info step config. */
export type InfoStepConfig = z.output<typeof infoStepConfig>;
