// module-meeting: drains due meeting runs (booking links, Google Calendar bookings, email/SMS reminders) when kicked.
import { meetingExecutor } from "../../../shared/modules/meeting/executor.ts";
import { moduleRuntime, serveModule } from "../../../shared/modules/runtime.ts";

const rt = moduleRuntime();
const { config } = rt;
const timeoutMs = config.PROVIDER_TIMEOUT_MS;

Deno.serve(serveModule(
  "meeting",
  rt,
  meetingExecutor({
    sql: rt.sql,
    secrets: rt.secrets,
    email: rt.email,
    twilio: { baseUrl: config.TWILIO_BASE_URL, timeoutMs },
    publicFunctionsUrl: rt.publicFunctionsUrl,
    calendly: { baseUrl: config.CALENDLY_BASE_URL, timeoutMs },
    google: {
      authUrl: config.GOOGLE_AUTH_URL,
      tokenUrl: config.GOOGLE_TOKEN_URL,
      calendarUrl: config.GOOGLE_CALENDAR_URL,
      timeoutMs,
    },
  }),
));
