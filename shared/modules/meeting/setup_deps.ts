// The dependencies of the meeting set-up functions, built from the function configuration.
import type { Config } from "../../config.ts";
import type { Sql } from "../../db/client.ts";
import { vaultSecrets } from "../../secrets.ts";
import type { MeetingSetupDeps } from "./setup.ts";

/** Builds the set-up functions' dependencies; SUPABASE_URL (set by Supabase) is required here. */
export function meetingSetupDeps(config: Config, sql: Sql): MeetingSetupDeps {
  if (!config.SUPABASE_URL) {
    throw new TypeError("Cannot start: SUPABASE_URL is required by the meeting set-up functions");
  }
  return {
    sql,
    secrets: vaultSecrets(sql),
    projectUrl: config.SUPABASE_URL,
    calendly: { baseUrl: config.CALENDLY_BASE_URL, timeoutMs: config.PROVIDER_TIMEOUT_MS },
    google: {
      authUrl: config.GOOGLE_AUTH_URL,
      tokenUrl: config.GOOGLE_TOKEN_URL,
      calendarUrl: config.GOOGLE_CALENDAR_URL,
      timeoutMs: config.PROVIDER_TIMEOUT_MS,
    },
  };
}
