// SMS segment counting: GSM-7 (160 septets, 153 per part) or UCS-2 (70 UTF-16 units, 67 per part).

/** GSM 03.38 basic character set (one septet each); ESC is not a character of its own. */
const GSM_BASIC = new Set(
  "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà",
);
/** GSM 03.38 extension table: ESC plus the character, two septets. */
const GSM_EXTENDED = new Set("^{}\\[~]|€\f");

/** How a message is encoded and billed. */
export type SegmentCount = {
  encoding: "GSM-7" | "UCS-2";
  /** Parts the carrier bills. */
  segments: number;
  /** Septets (GSM-7) or UTF-16 code units (UCS-2). */
  units: number;
};

/** Fills parts of `perPart` units greedily, never splitting one character's units across parts. */
function parts(sizes: number[], perPart: number): number {
  let count = 1;
  let used = 0;
  for (const size of sizes) {
    if (used + size > perPart) {
      count++;
      used = 0;
    }
    used += size;
  }
  return count;
}

/**
 * Counts the segments of an SMS body. Any character outside GSM 03.38 (an emoji, a curly quote, "ł")
 * makes the whole message UCS-2, which more than halves what one segment holds.
 */
export function countSegments(text: string): SegmentCount {
  const chars = Array.from(text);
  const gsm = chars.every((c) => GSM_BASIC.has(c) || GSM_EXTENDED.has(c));
  if (gsm) {
    const sizes = chars.map((c) => (GSM_EXTENDED.has(c) ? 2 : 1));
    const units = sizes.reduce((a, b) => a + b, 0);
    return { encoding: "GSM-7", units, segments: units <= 160 ? 1 : parts(sizes, 153) };
  }
  const sizes = chars.map((c) => c.length);
  const units = text.length;
  return { encoding: "UCS-2", units, segments: units <= 70 ? 1 : parts(sizes, 67) };
}
