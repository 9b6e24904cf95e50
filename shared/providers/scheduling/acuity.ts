// Acuity Scheduling adapter: pre-filled scheduling links and reading an appointment (HTTP Basic userId:apiKey).
import { answerFailure, callProvider, type ProviderAnswer } from "../http.ts";

/** Where and as whom to call Acuity. */
export type AcuityAccount = {
  userId: string;
  apiKey: string;
  /** `https://acuityscheduling.com/api/v1` */
  baseUrl: string;
  timeoutMs: number;
  fetch?: typeof fetch;
};

/** An appointment, as much of it as the meeting module uses. */
export type AcuityAppointment = {
  id: string;
  email: string;
  start: Date;
  end: Date;
  duration: number;
  canceled: boolean;
  location: string | null;
  confirmationPage: string | null;
};

/**
 * The scheduler URL pre-filled for the couple. Parameter names are case-sensitive camelCase
 * (`firstName`, not `first_name`); `appointmentType` skips the type picker.
 */
export function prefilledSchedulerUrl(
  schedulerUrl: string,
  input: { firstName: string; lastName: string; email: string | null; appointmentType: string },
): string {
  const url = new URL(schedulerUrl);
  url.searchParams.set("firstName", input.firstName);
  url.searchParams.set("lastName", input.lastName);
  if (input.email) url.searchParams.set("email", input.email);
  url.searchParams.set("appointmentType", input.appointmentType);
  return url.toString();
}

/** Splits "Alex & Sam Smith" into a first name and the rest (Acuity wants both). */
export function splitName(name: string): { firstName: string; lastName: string } {
  const parts = name.trim().split(/\s+/);
  return parts.length > 1
    ? { firstName: parts.slice(0, -1).join(" "), lastName: parts[parts.length - 1] }
    : { firstName: parts[0] ?? "", lastName: "" };
}

/** `GET /appointments/{id}`: the webhook carries only ids, so the booking is read back. */
export async function getAppointment(
  account: AcuityAccount,
  id: string,
): Promise<ProviderAnswer & { appointment?: AcuityAppointment }> {
  const answer = await callProvider({
    provider: "acuity",
    operation: "appointments.get",
    method: "GET",
    url: `${account.baseUrl.replace(/\/$/, "")}/appointments/${encodeURIComponent(id)}`,
    headers: { authorization: `Basic ${btoa(`${account.userId}:${account.apiKey}`)}` },
    timeoutMs: account.timeoutMs,
    idempotent: true,
    fetch: account.fetch,
  });
  if (!answer.ok) return answer;
  const a = answer.body as Record<string, unknown>;
  const start = new Date(String(a.datetime ?? ""));
  const duration = Number(a.duration ?? 0);
  if (Number.isNaN(start.getTime())) {
    return answerFailure(answer, "permanent", "malformed_answer", "Acuity returned no appointment datetime");
  }
  return {
    ...answer,
    appointment: {
      id: String(a.id),
      email: String(a.email ?? ""),
      start,
      duration,
      end: new Date(start.getTime() + duration * 60_000),
      canceled: a.canceled === true,
      location: typeof a.location === "string" && a.location !== "" ? a.location : null,
      confirmationPage: typeof a.confirmationPage === "string" ? a.confirmationPage : null,
    },
  };
}
