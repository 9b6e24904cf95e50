// Phone numbers to E.164 with libphonenumber-js: national formats are read with the couple's country.
import { parsePhoneNumberFromString } from "libphonenumber-js/max";
import type { CountryCode } from "libphonenumber-js/max";

/** A number normalised to E.164, or why it cannot be. */
export type PhoneResult = { ok: true; e164: string } | { ok: false; message: string };

/**
 * Normalises a number as the vendor typed it ("07911 123456", "+39 333 123 4567") to E.164. Numbers in
 * international form keep their own country whatever `country` says (a UK couple marrying in Italy).
 * @param country ISO 3166-1 alpha-2 of the couple's number, needed for national formats.
 */
export function toE164(raw: string, country: string | null): PhoneResult {
  const international = raw.trim().startsWith("+");
  if (!international && !country) {
    return {
      ok: false,
      message:
        `Cannot send to "${raw}": it is not in international form (+...) and the couple has no country`,
    };
  }
  const parsed = parsePhoneNumberFromString(raw, (country ?? undefined) as CountryCode | undefined);
  if (!parsed || !parsed.isValid()) {
    return {
      ok: false,
      message: `Cannot send to "${raw}": not a valid phone number${international ? "" : ` in ${country}`}`,
    };
  }
  return { ok: true, e164: parsed.number };
}
